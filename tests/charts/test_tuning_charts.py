"""Step 8 figures: best so far by trial and by time, importance, slices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from projects.charts.profile import figure_json
from projects.charts.tuning import (
    best_so_far_figure,
    importance_figure,
    running_best,
    slice_figure,
    top_params,
)

SPACE = {
    "C": {"type": "float", "low": 0.01, "high": 100.0, "log": True},
    "kernel": {"type": "choice", "choices": ["rbf", "linear"]},
    "degree": {"type": "int", "low": 2, "high": 5, "log": False},
}


def _trials():
    return [
        {"number": 0, "status": "complete", "score": 0.6, "elapsed_s": 2.0,
         "params": {"C": 0.1, "kernel": "rbf"}},
        {"number": 1, "status": "complete", "score": 0.7, "elapsed_s": 3.5,
         "params": {"C": 1.0, "kernel": "linear"}},
        {"number": 2, "status": "pruned", "score": 0.4, "elapsed_s": 4.0,
         "params": {"C": 50.0, "kernel": "rbf"}},
        {"number": 3, "status": "failed", "score": None, "elapsed_s": 4.2,
         "params": {"C": 80.0, "kernel": "rbf"}},
        {"number": 4, "status": "complete", "score": 0.65, "elapsed_s": 6.0,
         "params": {"C": 3.0, "kernel": "linear"}},
        {"number": 5, "status": "running", "score": None, "elapsed_s": None,
         "params": {"C": 2.0, "kernel": "rbf"}},
    ]  # fmt: skip


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_it_keeps_the_best_so_far_in_either_direction():
    scores = [None, 0.5, 0.3, 0.8, float("nan"), 0.6]

    assert running_best(scores, higher_is_better=True) == [
        None, 0.5, 0.5, 0.8, 0.8, 0.8
    ]  # fmt: skip
    assert running_best(scores, higher_is_better=False) == [
        None, 0.5, 0.3, 0.3, 0.3, 0.3
    ]  # fmt: skip


def test_it_draws_complete_trials_and_the_best_line_by_trial_number():
    fig = best_so_far_figure(_trials(), metric="f1_macro", higher_is_better=True)

    dots = _trace(fig, "trial score")
    assert list(dots.x) == [0, 1, 4]
    assert list(dots.y) == [0.6, 0.7, 0.65]
    assert list(_trace(fig, "best so far").y) == [0.6, 0.7, 0.7]
    assert _trace(fig, "best so far").line.shape == "hv"
    # The pruned trial is shown apart: its score covers only some folds.
    assert list(_trace(fig, "stopped early (partial score)").x) == [2]
    assert "f1_macro" in fig.layout.title.text
    assert "higher is better" in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "Trial number"


def test_it_draws_the_best_so_far_against_time_for_a_metric_to_minimise():
    fig = best_so_far_figure(
        _trials(), metric="rmse", higher_is_better=False, by="elapsed"
    )

    assert list(_trace(fig, "trial score").x) == [2.0, 3.5, 6.0]
    assert list(_trace(fig, "best so far").y) == [0.6, 0.6, 0.6]
    assert fig.layout.xaxis.title.text == "Seconds since the study started"
    assert "lower is better" in fig.layout.title.text


def test_it_draws_no_best_so_far_before_a_trial_completes():
    running = [t for t in _trials() if t["status"] in ("failed", "running")]

    assert best_so_far_figure([], metric="f1", higher_is_better=True) is None
    assert best_so_far_figure(running, metric="f1", higher_is_better=True) is None


def test_it_orders_importance_most_important_on_top():
    fig = importance_figure({"C": 0.2, "kernel": 0.7, "degree": 0.1})

    bars = fig.data[0]
    assert list(bars.y) == ["degree", "C", "kernel"]  # plotly draws bottom-up
    assert list(bars.x) == [0.1, 0.2, 0.7]
    assert fig.layout.xaxis.tickformat == ".0%"
    assert importance_figure(None) is None
    assert importance_figure({}) is None


def test_it_picks_the_two_most_important_parameters_of_the_space():
    importance = {"degree": 0.1, "kernel": 0.6, "C": 0.3, "gone": 0.9}

    assert top_params(importance, SPACE) == ["kernel", "C"]
    assert top_params(None, SPACE) == ["C", "kernel"]
    assert top_params({}, {"C": SPACE["C"]}) == ["C"]


def test_it_slices_the_score_by_each_parameter_with_the_right_axes():
    fig = slice_figure(_trials(), ["C", "kernel"], SPACE, metric="f1_macro")

    assert len(fig.data) == 2
    by_c, by_kernel = fig.data
    assert list(by_c.x) == [0.1, 1.0, 3.0]  # complete trials only
    assert list(by_c.y) == [0.6, 0.7, 0.65]
    assert list(by_kernel.x) == ["rbf", "linear", "linear"]
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.dtick == "D2"
    assert fig.layout.xaxis2.type == "category"
    assert fig.layout.yaxis.title.text == "f1_macro"
    assert "two most important" in fig.layout.title.text
    # Coloured by trial number, with one colour bar for both panels.
    assert list(by_c.marker.color) == [0, 1, 4]
    assert [t.marker.showscale for t in fig.data] == [False, True]


def test_it_slices_a_conditional_parameter_only_where_it_was_searched():
    trials = _trials()
    trials[1]["params"]["degree"] = 3

    fig = slice_figure(trials, ["degree", "kernel"], SPACE, metric="f1")

    assert list(fig.data[0].x) == [3]
    assert slice_figure(trials, ["gamma"], SPACE, metric="f1") is None
    assert slice_figure([], ["C"], SPACE, metric="f1") is None


def test_it_serialises_every_figure_to_json_without_nan():
    trials = _trials()
    figures = [
        best_so_far_figure(trials, metric="f1", higher_is_better=True),
        best_so_far_figure(trials, metric="f1", higher_is_better=True, by="elapsed"),
        importance_figure({"C": 0.4, "kernel": 0.6}),
        slice_figure(trials, ["C", "kernel"], SPACE, metric="f1"),
    ]

    for fig in figures:
        payload = json.loads(figure_json(fig))
        assert payload["data"] and payload["layout"]["title"]["text"]


@pytest.mark.parametrize("n", [1, 200, 1000])
def test_it_keeps_one_point_per_trial_for_a_big_study(n):
    rng = np.random.default_rng(0)
    trials = [
        {
            "number": i,
            "status": "complete",
            "score": float(rng.random()),
            "elapsed_s": float(i),
            "params": {"C": float(rng.uniform(0.01, 100)), "kernel": "rbf"},
        }
        for i in range(n)
    ]

    fig = best_so_far_figure(trials, metric="f1", higher_is_better=True)

    assert len(fig.data[0].x) == n
    best = list(fig.data[1].y)
    assert best == sorted(best)  # never gets worse
    assert best[-1] == max(t["score"] for t in trials)
