"""The model catalog: every entry trains, parameters are validated by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from projects.ml.catalog import (
    CATALOG,
    baseline_key,
    catalog_for,
    suggest_algorithms,
    validate_params,
)
from projects.ml.errors import SpecError
from projects.ml.training import train_model


def _frame(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=rows),
            "city": rng.choice(["a", "b", "c"], rows),
            "label": np.where(x + rng.normal(scale=0.5, size=rows) > 0, "yes", "no"),
            "amount": 3 * x + rng.normal(size=rows),
        }
    )


SPEC = {
    "columns": {
        "x": {"kind": "numeric"},
        "z": {"kind": "numeric"},
        "city": {"kind": "categorical"},
    }
}
TARGETS = {"classification": "label", "regression": "amount", "clustering": None}
ENTRIES = [(task, key) for task, entries in CATALOG.items() for key in entries]


@pytest.mark.parametrize(("task", "key"), ENTRIES)
def test_it_trains_every_catalog_entry_with_its_defaults(task, key):
    frame = _frame()
    target = TARGETS[task]
    if task == "clustering":
        frame = frame.drop(columns=["label"])
    result = train_model(
        frame.iloc[:120],
        frame.iloc[120:],
        target=target,
        task_type=task,
        feature_spec=SPEC,
        algorithm=key,
        cv_folds=2,
    )

    scored = result.validation or result.train
    assert any(v is not None for v in scored.values())
    if CATALOG[task][key].predicts_new_rows:
        assert result.validation is not None


def test_it_has_a_baseline_for_supervised_tasks_only():
    assert baseline_key("classification") == "baseline"
    assert baseline_key("regression") == "baseline"
    assert baseline_key("clustering") is None


def test_it_fills_in_the_defaults():
    params = validate_params("classification", "random_forest", {"n_estimators": 50})

    assert params["n_estimators"] == 50
    assert params["max_depth"] is None
    assert params["max_features"] == "sqrt"


def test_it_accepts_a_whole_float_for_an_int():
    params = validate_params("classification", "random_forest", {"n_estimators": 50.0})

    assert params["n_estimators"] == 50 and isinstance(params["n_estimators"], int)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"n_estimators": 5}, "params.n_estimators", "between 10 and 2000"),
        ({"n_estimators": 10.5}, "params.n_estimators", "whole number"),
        ({"n_estimators": True}, "params.n_estimators", "number"),
        ({"max_features": "half"}, "params.max_features", "not one of"),
        ({"trees": 3}, "params.trees", "has no parameter"),
        ({"min_samples_leaf": None}, "params.min_samples_leaf", "required"),
    ],
)
def test_it_refuses_a_bad_parameter_naming_it(params, field, words):
    with pytest.raises(SpecError) as caught:
        validate_params("classification", "random_forest", params)

    assert caught.value.field == field
    assert words in caught.value.message


def test_it_refuses_an_algorithm_of_another_task():
    with pytest.raises(SpecError) as caught:
        validate_params("classification", "ridge", {})

    assert caught.value.field == "algorithm"
    assert "logistic_regression" in caught.value.message


def test_it_refuses_a_non_finite_float():
    with pytest.raises(SpecError, match="finite"):
        validate_params("classification", "logistic_regression", {"C": float("nan")})


def test_it_says_when_a_model_will_be_trained_on_a_sample():
    entries = {e["key"]: e for e in catalog_for("classification", n_rows=50_000)}

    assert "10,000" in entries["svm"]["note"]
    assert entries["random_forest"]["note"] == ""
    assert {p["name"] for p in entries["svm"]["params"]} == {
        "C",
        "kernel",
        "degree",
        "class_weight",
    }


def test_it_suggests_histogram_boosting_for_thousands_of_rows():
    big = [s["key"] for s in suggest_algorithms("classification", n_rows=50_000)]
    small = [s["key"] for s in suggest_algorithms("regression", n_rows=300)]

    assert big == ["logistic_regression", "random_forest", "hist_gradient_boosting"]
    assert small == ["ridge", "random_forest", "gradient_boosting"]
    assert all(s["reason"] for s in suggest_algorithms("clustering", n_rows=500))
