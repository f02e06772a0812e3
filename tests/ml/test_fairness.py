from __future__ import annotations

import json

import numpy as np
import pytest

from projects.ml.fairness import fairness_report

# Group a: 4 rows, 3 predicted "yes" (selection 0.75); 2 actual "yes", both found
# (TPR 1.0); accuracy 3/4. Group b: 4 rows, 1 predicted "yes" (0.25); 2 actual
# "yes", 1 found (TPR 0.5); accuracy 3/4. Missing: 2 rows, none predicted "yes",
# 1 actual yes (TPR 0.0), accuracy 1/2.
Y_TRUE = ["yes", "yes", "no", "no", "yes", "yes", "no", "no", "yes", "no"]
Y_PRED = ["yes", "yes", "yes", "no", "yes", "no", "no", "no", "no", "no"]
GROUP = ["a", "a", "a", "a", "b", "b", "b", "b", None, None]


def _report(**kwargs):
    options = {"task_type": "classification", "metric": "accuracy"}
    options.update(kwargs)
    return fairness_report(Y_TRUE, Y_PRED, {"sex": GROUP}, **options)["sex"]


def test_it_computes_selection_rates_and_true_positive_rates_per_group():
    report = _report()
    by_group = {g["group"]: g for g in report["groups"]}
    assert set(by_group) == {"a", "b", "(missing)"}
    assert by_group["a"]["selection_rate"] == pytest.approx(0.75)
    assert by_group["b"]["selection_rate"] == pytest.approx(0.25)
    assert by_group["(missing)"]["selection_rate"] == pytest.approx(0.0)
    assert by_group["a"]["true_positive_rate"] == pytest.approx(1.0)
    assert by_group["b"]["true_positive_rate"] == pytest.approx(0.5)
    assert by_group["(missing)"]["true_positive_rate"] == pytest.approx(0.0)
    assert by_group["a"]["metric"] == pytest.approx(0.75)
    assert by_group["(missing)"]["n"] == 2
    assert report["overall"]["selection_rate"] == pytest.approx(0.4)


def test_it_computes_parity_differences_between_the_extreme_groups():
    report = _report()
    assert report["demographic_parity_difference"] == pytest.approx(0.75)
    assert report["equal_opportunity_difference"] == pytest.approx(1.0)
    assert report["metric_difference"] == pytest.approx(0.25)
    assert report["flagged"] is True
    assert len(report["reasons"]) == 3
    assert "demographic parity" in report["reasons"][0]


def test_it_leaves_small_groups_out_of_the_differences():
    report = _report(min_group_rows=3)
    missing = next(g for g in report["groups"] if g["group"] == "(missing)")
    assert missing["included"] is False
    assert report["demographic_parity_difference"] == pytest.approx(0.5)
    assert report["equal_opportunity_difference"] == pytest.approx(0.5)
    assert report["metric_difference"] == pytest.approx(0.0)


def test_it_flags_only_differences_beyond_the_bound():
    y_true = ["yes", "no"] * 10
    y_pred = ["yes", "no"] * 10
    groups = {"g": ["a"] * 10 + ["b"] * 10}
    report = fairness_report(
        y_true, y_pred, groups, task_type="classification", metric="f1"
    )["g"]
    assert report["demographic_parity_difference"] == pytest.approx(0.0)
    assert report["flagged"] is False and report["reasons"] == []
    # 0.3 vs 0.2 selection: exactly the bound is not beyond it; 0.35 vs 0.2 is.
    y_pred = ["yes"] * 3 + ["no"] * 7 + ["yes"] * 2 + ["no"] * 8
    report = fairness_report(
        y_true, y_pred, groups, task_type="classification", metric="f1", bound=0.1
    )["g"]
    assert report["demographic_parity_difference"] == pytest.approx(0.1)
    assert not any("parity" in r for r in report["reasons"])


def test_it_reports_only_the_metric_per_group_for_multiclass():
    y = [0, 1, 2, 0, 1, 2]
    report = fairness_report(
        y,
        [0, 1, 1, 0, 1, 2],
        {"g": list("aaabbb")},
        task_type="classification",
        metric="accuracy",
    )["g"]
    assert report["demographic_parity_difference"] is None
    assert report["equal_opportunity_difference"] is None
    assert report["metric_difference"] == pytest.approx(1 / 3)
    assert "multiclass" in report["note"]


def test_it_reports_error_and_mean_prediction_per_group_for_regression():
    y_true = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    y_pred = np.array([1.0, 2.0, 4.0, 12.0, 20.0, 34.0])
    report = fairness_report(
        y_true,
        y_pred,
        {"region": ["n", "n", "n", "s", "s", "s"]},
        task_type="regression",
        metric="mae",
    )["region"]
    by_group = {g["group"]: g for g in report["groups"]}
    assert by_group["n"]["metric"] == pytest.approx(1 / 3)
    assert by_group["s"]["metric"] == pytest.approx(2.0)
    assert by_group["s"]["mean_prediction"] == pytest.approx(22.0)
    assert by_group["s"]["selection_rate"] is None
    assert report["demographic_parity_difference"] is None
    assert report["metric_difference"] == pytest.approx(5 / 3)
    # Overall mae 7/6: the difference is 143% of it.
    assert report["metric_relative_difference"] == pytest.approx((5 / 3) / (7 / 6))
    assert report["flagged"] is True


def test_it_accepts_a_positive_label_given_as_text_for_numeric_labels():
    report = fairness_report(
        [1, 0, 1, 0],
        [1, 1, 0, 0],
        {"g": ["a", "a", "b", "b"]},
        task_type="classification",
        metric="recall",
        positive_label="1",
    )["g"]
    assert [g["selection_rate"] for g in report["groups"]] == [1.0, 0.0]


def test_it_returns_json_without_nan():
    report = fairness_report(
        Y_TRUE,
        Y_PRED,
        {"sex": GROUP, "all": ["x"] * 10},
        task_type="classification",
        metric="f1",
    )
    assert report["all"]["note"].startswith("Fewer than two groups")
    json.dumps(report, allow_nan=False)


def test_it_refuses_values_of_another_length():
    with pytest.raises(ValueError, match="values for 10 rows"):
        fairness_report(
            Y_TRUE,
            Y_PRED,
            {"sex": ["a"]},
            task_type="classification",
            metric="accuracy",
        )
