"""train_model: CV on train only, reproducible, sampled when too big, sklearn's
numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, root_mean_squared_error

from projects.ml import catalog
from projects.ml.training import score_split, split_xy, train_model
from tests.ml.test_catalog import SPEC, _frame


def _train(frame, **kw):
    defaults = {
        "target": "label",
        "task_type": "classification",
        "feature_spec": SPEC,
        "algorithm": "logistic_regression",
        "cv_folds": 3,
    }
    return train_model(frame.iloc[:120], frame.iloc[120:], **{**defaults, **kw})


def test_it_reports_mean_and_spread_of_each_fold():
    result = _train(_frame())

    cv = result.cv["f1_macro"]
    assert len(cv["folds"]) == 3
    assert cv["mean"] == pytest.approx(np.mean(cv["folds"]))
    assert cv["std"] == pytest.approx(np.std(cv["folds"]))
    assert result.cv_folds == 3


def test_it_scores_validation_like_scikit_learn():
    frame = _frame()
    result = _train(frame)

    X, y = split_xy(frame.iloc[120:], target="label", task_type="classification")
    expected = f1_score(y, result.pipeline.predict(X), average="macro")
    assert result.validation["f1_macro"] == pytest.approx(expected)


def test_it_scores_regression_like_scikit_learn():
    frame = _frame()
    result = _train(frame, target="amount", task_type="regression", algorithm="ridge")

    X, y = split_xy(frame.iloc[120:], target="amount", task_type="regression")
    expected = root_mean_squared_error(y, result.pipeline.predict(X))
    assert result.validation["rmse"] == pytest.approx(expected)


def test_it_is_reproducible_with_the_same_seed():
    first = _train(_frame(), algorithm="random_forest", random_state=3)
    second = _train(_frame(), algorithm="random_forest", random_state=3)

    assert first.cv == second.cv
    assert first.validation == second.validation


def test_it_handles_a_category_first_seen_in_validation():
    frame = _frame()
    frame.loc[130:, "city"] = "never-seen"

    result = _train(frame)

    assert result.validation["accuracy"] is not None


def test_it_fits_the_features_on_the_training_split_only():
    frame = _frame()
    # Validation values far outside training: a scaler fitted on them would
    # centre them; one fitted on training rows leaves them far from 0.
    frame.loc[120:, "z"] = 1_000.0

    result = _train(frame)

    scaler_mean = result.pipeline.named_steps["features"].transform(
        frame.iloc[120:].drop(columns=["label"])
    )
    assert np.abs(np.asarray(scaler_mean)[:, 1]).min() > 100


def test_it_uses_fewer_folds_when_a_class_is_small():
    frame = _frame()
    frame.loc[:119, "label"] = "no"
    frame.loc[[0, 1], "label"] = "yes"

    result = _train(frame, cv_folds=5)

    assert result.cv_folds == 2
    assert any("2 folds instead of 5" in line for line in result.log)


def test_it_trains_on_a_seeded_sample_above_the_entry_limit(monkeypatch):
    entry = catalog.CATALOG["classification"]["knn"]
    monkeypatch.setitem(
        catalog.CATALOG["classification"],
        "knn",
        dataclasses.replace(entry, max_rows=50),
    )

    result = _train(_frame(), algorithm="knn")

    assert result.n_train_rows == 120 and result.n_fit_rows == 50
    assert any("sample of 50" in line for line in result.log)


def test_it_records_convergence_warnings():
    result = _train(_frame(), algorithm="logistic_regression", params={"max_iter": 10})

    assert (
        any("converge" in w.lower() for w in result.warnings) or result.warnings == []
    )


def test_it_measures_latency_and_lists_the_inputs():
    result = _train(_frame())

    assert result.predict_ms_per_row > 0 and result.predict_ms_single > 0
    assert [c["name"] for c in result.input_columns] == ["x", "z", "city", "amount"]
    assert result.classes == ["no", "yes"]


def test_it_scores_clusters_on_the_transformed_features():
    frame = _frame().drop(columns=["label"])
    result = train_model(
        frame.iloc[:120],
        frame.iloc[120:],
        target=None,
        task_type="clustering",
        feature_spec=SPEC,
        algorithm="kmeans",
        params={"n_clusters": 2},
        cv_folds=0,
    )

    scored = score_split(
        result.pipeline, frame.iloc[120:], None, task_type="clustering"
    )
    assert scored.metrics == result.validation
    assert result.cv == {}


def test_it_refuses_a_training_split_without_rows():
    frame = _frame()
    with pytest.raises(ValueError, match="fewer than 2"):
        train_model(
            frame.iloc[:1],
            None,
            target="label",
            task_type="classification",
            feature_spec=SPEC,
            algorithm="baseline",
        )


def test_it_converts_pandas_targets_to_plain_arrays():
    frame = _frame()
    frame["label"] = frame["label"].astype("string[pyarrow]")
    X, y = split_xy(frame, target="label", task_type="classification")

    assert y.dtype == object and set(y) == {"yes", "no"}
    assert "label" not in X.columns
    frame.loc[0, "label"] = pd.NA
    _, y = split_xy(frame, target="label", task_type="classification")
    assert len(y) == len(frame) - 1
