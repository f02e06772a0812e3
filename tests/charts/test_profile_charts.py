from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from projects.charts.profile import (
    association_figure,
    column_figure,
    correlation_figure,
    figure_json,
    groups_figure,
    target_figure,
)
from projects.ml.profiling import analyze_groups, analyze_target, profile_table


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue", "<b>bold</b>"], n),
            "when": pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
            "label": np.where(x > 0, "pos", "neg"),
            "empty": [np.nan] * n,
        }
    )


@pytest.fixture(scope="module")
def profile(frame) -> dict:
    return profile_table(frame)


def _column(profile: dict, name: str) -> dict:
    return next(c for c in profile["columns"] if c["name"] == name)


def test_it_draws_a_numeric_column_as_bars_over_the_bin_centres(profile):
    column = _column(profile, "x")
    fig = column_figure(column)
    assert isinstance(fig, go.Figure)
    (trace,) = fig.data
    assert trace.type == "bar"
    edges = column["histogram"]["edges"]
    assert len(trace.x) == len(column["histogram"]["counts"]) == len(edges) - 1
    assert trace.x[0] == pytest.approx((edges[0] + edges[1]) / 2)
    assert list(trace.y) == column["histogram"]["counts"]


def test_it_draws_a_datetime_column_as_bars_over_time(profile):
    column = _column(profile, "when")
    fig = column_figure(column)
    (trace,) = fig.data
    assert trace.type == "bar"
    assert len(trace.x) == len(column["histogram"]["counts"])
    first = pd.Timestamp(trace.x[0])
    assert pd.Timestamp(column["histogram"]["edges"][0]) < first
    assert first < pd.Timestamp(column["histogram"]["edges"][1])


def test_it_draws_a_categorical_column_as_horizontal_bars_of_top_values(profile):
    column = _column(profile, "colour")
    fig = column_figure(column)
    (trace,) = fig.data
    assert trace.type == "bar" and trace.orientation == "h"
    assert len(trace.y) == 4
    # Values are data: markup-like text is passed through as a label, not HTML.
    assert "<b>bold</b>" in trace.y
    # The most frequent value is drawn on top (plotly draws the first y at the bottom).
    assert trace.y[-1] == column["top"][0]["value"]


def test_it_draws_nothing_for_a_column_without_values(profile):
    assert column_figure(_column(profile, "empty")) is None
    assert column_figure({"name": "t", "kind": "text", "top": []}) is None


def test_it_draws_the_correlation_as_a_heatmap_from_minus_one_to_one(profile):
    fig = correlation_figure(profile)
    (trace,) = fig.data
    assert trace.type == "heatmap"
    assert list(trace.x) == ["x", "y"]
    assert (trace.zmin, trace.zmax) == (-1, 1)
    assert np.asarray(trace.z).shape == (2, 2)


def test_it_draws_no_heatmap_without_a_correlation():
    assert correlation_figure({"correlation": None}) is None
    one = {"correlation": {"columns": ["a"], "matrix": [[1.0]]}}
    assert correlation_figure(one) is None


def test_it_draws_the_class_balance_of_a_classification_target(frame):
    analysis = analyze_target(frame, target="label", task_type="classification")
    fig = target_figure(analysis)
    (trace,) = fig.data
    assert trace.type == "bar" and trace.orientation == "h"
    assert sorted(trace.y) == ["neg", "pos"]


def test_it_draws_a_histogram_for_a_regression_target(frame):
    analysis = analyze_target(frame, target="y", task_type="regression")
    fig = target_figure(analysis)
    (trace,) = fig.data
    assert trace.type == "bar"
    assert len(trace.x) == len(analysis["distribution"]["histogram"]["counts"])


def test_it_draws_no_target_figure_without_a_distribution(frame):
    analysis = analyze_target(frame, target="missing", task_type="regression")
    assert target_figure(analysis) is None


def test_it_draws_associations_with_leakage_in_a_warning_colour(frame):
    leaky = frame.assign(y_copy=frame["y"])
    analysis = analyze_target(leaky, target="y", task_type="regression")
    fig = association_figure(analysis)
    (trace,) = fig.data
    assert trace.type == "bar" and trace.orientation == "h"
    assert len(trace.y) == len(analysis["associations"])
    colours = dict(zip(trace.y, trace.marker.color, strict=True))
    assert colours["y_copy"] != colours["colour"]


def test_it_draws_no_association_figure_without_associations(frame):
    analysis = analyze_target(frame, target="y", task_type="clustering")
    assert association_figure(analysis) is None


def test_it_draws_group_shares_with_small_groups_in_a_warning_colour():
    df = pd.DataFrame({"g": ["a"] * 200 + ["b"] * 180 + ["c"] * 10 + [None] * 5})
    (groups,) = analyze_groups(df, columns=["g"])
    fig = groups_figure(groups)
    (trace,) = fig.data
    assert trace.type == "bar" and trace.orientation == "h"
    assert len(trace.y) == 4
    colours = dict(zip(trace.y, trace.marker.color, strict=True))
    assert colours["c"] == colours["(missing)"] != colours["a"]


def test_it_draws_an_empty_group_figure_for_no_groups():
    fig = groups_figure({"column": "g", "groups": [], "warnings": []})
    assert isinstance(fig, go.Figure)


def test_it_keeps_figures_compact_and_on_the_white_template(profile, frame):
    analysis = analyze_target(frame, target="label", task_type="classification")
    figures = [
        column_figure(_column(profile, "x")),
        column_figure(_column(profile, "colour")),
        target_figure(analysis),
        association_figure(analysis),
        correlation_figure(profile),
    ]
    for fig in figures:
        assert 220 <= fig.layout.height <= 520
        assert fig.layout.margin.t <= 20
        assert fig.layout.title.text is None
        payload = json.loads(figure_json(fig))
        assert set(payload) == {"data", "layout"}
        assert payload["layout"]["template"]["layout"]["plot_bgcolor"] == "white"
        assert "data" not in payload["layout"]["template"]
        assert len(figure_json(fig)) < 8_000


def test_it_serialises_figures_without_nan():
    profile = {
        "correlation": {"columns": ["a", "b"], "matrix": [[1.0, None], [None, 1]]}
    }
    text = figure_json(correlation_figure(profile))
    assert "NaN" not in text
    assert json.loads(text)["data"][0]["z"][0][1] is None


def test_it_keeps_long_labels_distinct():
    prefix = "x" * 60
    column = {
        "kind": "categorical",
        "top": [
            {"value": prefix + "1", "count": 3, "share": 0.3},
            {"value": prefix + "2", "count": 2, "share": 0.2},
        ],
    }
    (trace,) = column_figure(column).data
    assert len(set(trace.y)) == 2
    assert all(len(label) <= 45 for label in trace.y)
