from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs, make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from projects.charts.evaluation import (
    calibration_figure,
    cluster_sizes_figure,
    confusion_figure,
    fairness_figure,
    importance_figure,
    leaderboard_figure,
    learning_curve_figure,
    parallel_coordinates_figure,
    pr_figure,
    predicted_vs_actual_figure,
    projection_figure,
    residual_hist_figure,
    residuals_figure,
    roc_figure,
    segment_error_figure,
    silhouette_figure,
    threshold_figure,
)
from projects.charts.profile import figure_json
from projects.ml.evaluation import (
    evaluate_classification,
    evaluate_clustering,
    evaluate_regression,
    learning_curve_data,
    permutation_importance_table,
)
from projects.ml.fairness import fairness_report


def _check(fig: go.Figure, types: list[str]) -> None:
    assert isinstance(fig, go.Figure)
    assert [t.type for t in fig.data] == types
    assert fig.layout.title.text
    json.loads(fig.to_json())
    json.loads(figure_json(fig))


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=800, n_features=5, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    model = LogisticRegression().fit(X[:400], labels[:400])
    result = evaluate_classification(
        labels[400:],
        model.predict(X[400:]),
        model.predict_proba(X[400:]),
        model.classes_,
    )
    return result, model, X[400:], labels[400:]


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    model = LogisticRegression(max_iter=500).fit(X, y)
    return evaluate_classification(y, model.predict(X), model.predict_proba(X), None)


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3))
    y = X @ [1.0, 2.0, 3.0] + rng.normal(size=3000)
    pred = LinearRegression().fit(X, y).predict(X)
    city = rng.choice(["paris", "lyon", None], 3000)
    return evaluate_regression(y, pred, segments={"city": city})


@pytest.fixture(scope="module")
def clustering():
    X, _ = make_blobs(n_samples=500, centers=3, random_state=0)
    labels = KMeans(n_clusters=3, n_init=2, random_state=0).fit_predict(X)
    labels[:5] = -1
    return evaluate_clustering(X, labels)


def test_it_draws_the_confusion_matrix_as_counts_or_shares(binary):
    result = binary[0]
    counts = confusion_figure(result["confusion"])
    _check(counts, ["heatmap"])
    assert np.asarray(counts.data[0].z).sum() == 400
    shares = confusion_figure(result["confusion"], normalized=True)
    _check(shares, ["heatmap"])
    assert np.asarray(shares.data[0].z).sum(axis=1) == pytest.approx([1, 1])
    assert "share" in shares.layout.title.text
    assert shares.layout.xaxis.title.text == "Predicted class"


def test_it_overlays_roc_curves_of_several_experiments_with_a_diagonal(
    binary, multiclass
):
    fig = roc_figure({"logistic": binary[0]["roc"], "other": multiclass["roc"]})
    _check(fig, ["scatter"] * 5)
    assert fig.data[0].name == "random guessing"
    assert "AUC" in fig.data[1].name and fig.data[1].name.startswith("logistic")
    assert isinstance(fig.data[1].x, np.ndarray)
    assert roc_figure({"a": None}) is None


def test_it_names_one_experiments_curves_by_class(multiclass):
    fig = pr_figure({"only": multiclass["pr"]})
    _check(fig, ["scatter"] * 3)
    assert [t.name.split(" ")[0] for t in fig.data] == ["0", "1", "2"]
    assert "Recall" in fig.layout.xaxis.title.text


def test_it_draws_calibration_with_the_perfect_diagonal_and_row_counts(binary):
    fig = calibration_figure(binary[0]["calibration"])
    _check(fig, ["bar", "scatter", "scatter"])
    assert sum(fig.data[0].y) == 400
    assert calibration_figure(None) is None


def test_it_draws_the_threshold_explorer_with_the_chosen_threshold(binary):
    fig = threshold_figure(binary[0]["thresholds"], chosen=0.3)
    _check(fig, ["scatter"] * 4)
    assert len(fig.data[0].x) == 101
    assert fig.layout.shapes[0].x0 == 0.3
    assert threshold_figure(None) is None


def test_it_draws_predicted_against_actual_with_the_identity_line(regression):
    fig = predicted_vs_actual_figure(regression["scatter"])
    _check(fig, ["scatter", "scatter"])
    assert len(fig.data[1].x) == 2000
    assert "2,000 of 3,000" in fig.layout.title.text


def test_it_switches_to_webgl_above_ten_thousand_points():
    n = 12_000
    scatter = {"actual": list(range(n)), "predicted": list(range(n)), "n_total": n}
    fig = predicted_vs_actual_figure(scatter)
    assert fig.data[1].type == "scattergl"


def test_it_draws_residuals_and_their_distribution(regression):
    fig = residuals_figure(regression["residuals"])
    _check(fig, ["scatter"])
    assert "actual - predicted" in fig.layout.yaxis.title.text
    hist = residual_hist_figure(regression["residual_hist"])
    _check(hist, ["bar"])
    assert len(hist.data[0].x) == 40
    assert residual_hist_figure({"edges": [], "counts": []}) is None


def test_it_draws_the_error_by_segment_largest_group_on_top(regression):
    fig = segment_error_figure(regression["by_segment"], "city")
    _check(fig, ["bar"])
    assert set(fig.data[0].y) == {"paris", "lyon", "(missing)"}
    assert fig.data[0].y[-1] == regression["by_segment"]["city"]["groups"][0]["group"]
    assert segment_error_figure(regression["by_segment"], "nope") is None


def test_it_draws_the_silhouette_of_each_cluster(clustering):
    fig = silhouette_figure(clustering["silhouette"])
    _check(fig, ["scatter"] * 3)
    assert fig.layout.shapes[0].x0 == pytest.approx(clustering["silhouette"]["overall"])
    single = evaluate_clustering(np.eye(4), [0, 0, 0, 0])
    assert silhouette_figure(single["silhouette"]) is None


def test_it_draws_cluster_sizes_with_noise_in_grey(clustering):
    fig = cluster_sizes_figure(clustering["sizes"])
    _check(fig, ["bar"])
    assert list(fig.data[0].x) == ["0", "1", "2", "noise"]
    assert fig.data[0].marker.color[-1] == "#9d9d9d"


def test_it_draws_the_projection_one_trace_per_cluster(clustering):
    fig = projection_figure(clustering["projection"])
    _check(fig, ["scatter"] * 4)
    assert [t.name for t in fig.data][-1] == "noise"
    assert "variance" in fig.layout.xaxis.title.text
    assert sum(len(t.x) for t in fig.data) == 500


def test_it_draws_importance_most_important_on_top(binary):
    _, _, X, y = binary
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y)
    rows = permutation_importance_table(pipeline, frame, y, scoring="accuracy")
    fig = importance_figure(rows, top=3)
    _check(fig, ["bar"])
    assert len(fig.data[0].y) == 3
    assert fig.data[0].y[-1] == rows[0]["feature"]
    assert importance_figure([]) is None


def test_it_draws_the_learning_curve_with_bands_and_the_verdict():
    X, y = make_classification(n_samples=300, random_state=0)
    data = learning_curve_data(LogisticRegression(), X, y, scoring="accuracy")
    fig = learning_curve_figure(data)
    _check(fig, ["scatter"] * 4)
    assert fig.data[1].name == "training score"
    assert fig.data[3].name == "validation score"
    kind_words = {
        "overfitting": "over-fitting",
        "underfitting": "under-fitting",
        "more_data": "more data",
        "good_fit": "good fit",
    }
    assert kind_words[data["verdict"]["kind"]] in fig.layout.title.text


def test_it_draws_fairness_per_group_with_the_bound():
    report = fairness_report(
        ["yes", "no", "yes", "no", "yes", "no"],
        ["yes", "yes", "yes", "no", "no", "no"],
        {"sex": ["a", "a", "a", "b", "b", "b"]},
        task_type="classification",
        metric="accuracy",
    )["sex"]
    fig = fairness_figure(report, 0.1)
    _check(fig, ["bar", "bar", "bar"])
    assert "beyond the bound" in fig.layout.title.text
    assert fig.layout.shapes[0].y0 == pytest.approx(1.0 - 0.1)


def test_it_draws_only_the_metric_for_regression_fairness():
    report = fairness_report(
        [1.0, 2.0, 3.0, 4.0],
        [1.0, 2.5, 3.0, 5.0],
        {"g": ["a", "a", "b", "b"]},
        task_type="regression",
        metric="rmse",
    )["g"]
    _check(fairness_figure(report, 0.1), ["bar"])


def test_it_draws_parameters_in_parallel_with_categories_encoded():
    rows = [
        {"max_depth": 3, "criterion": "gini", "lr": 0.1, "f1": 0.7},
        {"max_depth": None, "criterion": "entropy", "lr": 0.01, "f1": 0.8},
        {"max_depth": 5, "criterion": "gini", "lr": 0.05, "f1": 0.75},
        {"max_depth": 5, "criterion": "gini", "lr": 0.05, "f1": None},
    ]
    fig = parallel_coordinates_figure(rows, ["max_depth", "criterion", "lr"], "f1")
    _check(fig, ["parcoords"])
    dims = fig.data[0].dimensions
    assert [d.label for d in dims] == ["max_depth", "criterion", "lr", "f1"]
    assert list(dims[0].ticktext) == ["3", "5", "None"]
    assert list(dims[0].values) == [0, 2, 1]
    assert list(dims[1].ticktext) == ["entropy", "gini"]
    assert dims[2].tickvals is None
    assert list(fig.data[0].line.color) == [0.7, 0.8, 0.75]
    assert parallel_coordinates_figure([], ["a"], "f1") is None


def test_it_ranks_the_leaderboard_best_on_top_with_the_threshold_line():
    rows = [
        {"name": "forest", "score": 0.4, "baseline": False},
        {"name": "dummy", "score": 0.9, "baseline": True},
        {"name": "linear", "score": 0.6, "baseline": False},
        {"name": "failed", "score": None, "baseline": False},
    ]
    fig = leaderboard_figure(rows, "rmse", threshold=0.5, higher_is_better=False)
    _check(fig, ["bar"])
    assert fig.data[0].y[-1] == "forest"
    assert fig.data[0].y[0] == "dummy (baseline)"
    assert list(fig.data[0].marker.color) == ["#9d9d9d", "#f58518", "#4c78a8"]
    assert fig.layout.shapes[0].x0 == 0.5
    assert leaderboard_figure([], "rmse") is None


def test_it_keeps_the_baseline_mark_on_a_long_name():
    rows = [
        {
            "name": "Baseline (most frequent class) on v12",
            "score": 0.5,
            "baseline": True,
        },
        {"name": "x" * 80, "score": 0.7, "baseline": False},
    ]
    fig = leaderboard_figure(rows, "f1")

    assert fig.data[0].y[0].endswith(" (baseline)")
    assert fig.data[0].y[1].endswith("…")
