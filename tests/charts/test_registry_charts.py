"""The model version page's chart of the reference predictions."""

from __future__ import annotations

import numpy as np

from projects.charts.profile import figure_json
from projects.charts.registry import prediction_figure
from projects.ml.reference import prediction_summary


def test_it_draws_the_positive_class_probability_of_a_binary_classifier():
    proba = np.column_stack([np.linspace(1, 0, 50), np.linspace(0, 1, 50)])
    summary = prediction_summary(
        np.array(["no"] * 25 + ["yes"] * 25),
        task_type="classification",
        proba=proba,
        classes=["no", "yes"],
    )
    fig = prediction_figure(summary)
    (bar,) = fig.data
    assert sum(bar.y) == 50 and len(bar.x) == 10
    assert "'yes'" in fig.layout.title.text
    assert figure_json(fig)


def test_it_draws_label_shares_and_binned_values():
    labels = prediction_figure(
        prediction_summary(np.array(["a", "b", "c", "c"]), task_type="classification")
    )
    assert labels.data[0].x[0] == "c" and set(labels.data[0].x) == {"a", "b", "c"}
    values = prediction_figure(
        prediction_summary(np.linspace(0, 10, 101), task_type="regression")
    )
    assert sum(values.data[0].y) == 101


def test_it_draws_nothing_without_predictions():
    assert prediction_figure(None) is None
    assert prediction_figure({}) is None
    assert prediction_figure({"kind": "labels", "n": 0, "frequencies": {}}) is None
