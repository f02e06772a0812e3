from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_blobs, make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from projects.ml.evaluation import (
    MAX_CURVE_POINTS,
    MAX_SCATTER_POINTS,
    evaluate_classification,
    evaluate_clustering,
    evaluate_regression,
    learning_curve_data,
    permutation_importance_table,
    sklearn_scorer,
    threshold_metrics,
)
from projects.ml.metrics import compute_metrics


def _json(value) -> None:
    json.dumps(value, allow_nan=False)


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=3000, n_features=6, flip_y=0.1, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    model = LogisticRegression().fit(X[:1500], labels[:1500])
    X_val, y_val = X[1500:], labels[1500:]
    return y_val, model.predict(X_val), model.predict_proba(X_val), model.classes_


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(
        n_samples=600, n_features=8, n_informative=5, n_classes=3, random_state=1
    )
    model = LogisticRegression(max_iter=500).fit(X[:300], y[:300])
    return y[300:], model.predict(X[300:]), model.predict_proba(X[300:]), model.classes_


def test_it_counts_the_confusion_matrix_like_sklearn(binary):
    y, pred, proba, classes = binary
    result = evaluate_classification(y, pred, proba, classes)
    assert result["classes"] == ["no", "yes"]
    assert result["positive_label"] == "yes"
    expected = skm.confusion_matrix(y, pred, labels=classes)
    assert result["confusion"]["counts"] == expected.tolist()
    rows = np.asarray(result["confusion"]["normalized"])
    assert rows.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert rows[1, 1] == pytest.approx(expected[1, 1] / expected[1].sum())


def test_it_draws_one_roc_and_pr_curve_for_the_positive_class(binary):
    y, pred, proba, classes = binary
    result = evaluate_classification(y, pred, proba, classes)
    (roc,) = result["roc"]
    assert roc["label"] == "yes"
    assert roc["auc"] == pytest.approx(skm.roc_auc_score(y == "yes", proba[:, 1]))
    assert len(roc["fpr"]) <= MAX_CURVE_POINTS
    assert roc["fpr"][0] == 0.0 and roc["fpr"][-1] == 1.0
    # The area under the (downsampled) drawn curve is close to the exact one.
    assert skm.auc(roc["fpr"], roc["tpr"]) == pytest.approx(roc["auc"], abs=0.01)
    (pr,) = result["pr"]
    assert pr["average_precision"] == pytest.approx(
        skm.average_precision_score(y == "yes", proba[:, 1])
    )
    assert len(pr["precision"]) == len(pr["recall"]) <= MAX_CURVE_POINTS


def test_it_bins_calibration_like_sklearn(binary):
    y, pred, proba, classes = binary
    calibration = evaluate_classification(y, pred, proba, classes)["calibration"]
    prob_true, prob_pred = calibration_curve(
        y, proba[:, 1], n_bins=10, strategy="uniform", pos_label="yes"
    )
    assert calibration["prob_true"] == pytest.approx(prob_true.tolist())
    assert calibration["prob_pred"] == pytest.approx(prob_pred.tolist())
    assert sum(calibration["counts"]) == len(y)
    assert calibration["kind"] == "positive_class"


def test_it_tabulates_thresholds_equal_to_metrics_of_thresholded_probabilities(
    binary,
):
    y, pred, proba, classes = binary
    table = evaluate_classification(y, pred, proba, classes)["thresholds"]
    assert len(table) == 101
    assert [row["threshold"] for row in table[:3]] == [0.0, 0.01, 0.02]
    at_half = np.where(proba[:, 1] >= 0.5, "yes", "no")
    expected = compute_metrics(
        "classification",
        y,
        at_half,
        classes=classes,
        metrics=["precision", "recall", "f1"],
    )
    row = table[50]
    assert row["threshold"] == 0.5
    assert row["precision"] == pytest.approx(expected["precision"])
    assert row["recall"] == pytest.approx(expected["recall"])
    assert row["f1"] == pytest.approx(expected["f1"])
    assert row["predicted_positive_rate"] == pytest.approx((at_half == "yes").mean())
    assert table[0]["recall"] == 1.0 and table[0]["predicted_positive_rate"] == 1.0


def test_it_picks_the_table_row_nearest_a_chosen_threshold(binary):
    y, pred, proba, classes = binary
    table = evaluate_classification(y, pred, proba, classes)["thresholds"]
    chosen = threshold_metrics(table, 0.348)
    assert chosen["threshold"] == 0.35 and chosen["requested"] == 0.348
    assert chosen["f1"] == table[35]["f1"]
    for bad in (1.5, -0.1, float("nan"), "x"):
        with pytest.raises(ValueError):
            threshold_metrics(table, bad)
    with pytest.raises(ValueError):
        threshold_metrics(None, 0.5)


def test_it_counts_the_confusion_matrix_at_a_chosen_threshold(binary):
    y, pred, proba, classes = binary
    result = evaluate_classification(y, pred, proba, classes, threshold=0.3)
    at = np.where(proba[:, 1] >= 0.3, "yes", "no")
    expected = skm.confusion_matrix(y, at, labels=classes).tolist()
    assert result["confusion"]["counts"] == expected
    assert result["threshold"]["threshold"] == 0.3


def test_it_draws_one_vs_rest_curves_for_multiclass(multiclass):
    y, pred, proba, classes = multiclass
    result = evaluate_classification(y, pred, proba, classes)
    assert [c["label"] for c in result["roc"]] == ["0", "1", "2"]
    for i, curve in enumerate(result["roc"]):
        assert curve["auc"] == pytest.approx(skm.roc_auc_score(y == i, proba[:, i]))
    assert result["thresholds"] is None and result["positive_label"] is None
    calibration = result["calibration"]
    assert calibration["kind"] == "top_class"
    correct = (proba.argmax(axis=1) == y).astype(int)
    prob_true, _ = calibration_curve(correct, proba.max(axis=1), n_bins=10)
    assert calibration["prob_true"] == pytest.approx(prob_true.tolist())
    assert len(result["confusion"]["counts"]) == 3
    _json(result)


def test_it_leaves_out_score_charts_without_probabilities(binary):
    y, pred, _, classes = binary
    result = evaluate_classification(y, pred, None, classes)
    assert result["roc"] is None and result["pr"] is None
    assert result["calibration"] is None and result["thresholds"] is None
    assert result["confusion"]["counts"]
    _json(result)


def test_it_marks_a_class_absent_from_the_true_labels_as_undefined():
    result = evaluate_classification(
        [0, 0, 1, 1], [0, 2, 1, 1], np.full((4, 3), 1 / 3), [0, 1, 2]
    )
    assert result["confusion"]["normalized"][2] == [None, None, None]
    assert [c["label"] for c in result["roc"]] == ["0", "1"]
    _json(result)


def test_it_bounds_regression_samples_with_residual_actual_minus_predicted():
    rng = np.random.default_rng(0)
    y = rng.normal(100, 20, 5000)
    pred = y + rng.normal(0, 5, 5000)
    result = evaluate_regression(y, pred, random_state=3)
    scatter, residuals = result["scatter"], result["residuals"]
    assert len(scatter["actual"]) == MAX_SCATTER_POINTS and scatter["sampled"]
    assert len(residuals["residual"]) == MAX_SCATTER_POINTS
    actual, predicted = np.asarray(scatter["actual"]), np.asarray(scatter["predicted"])
    assert np.asarray(residuals["residual"]) == pytest.approx(actual - predicted)
    assert residuals["predicted"] == scatter["predicted"]
    hist = result["residual_hist"]
    assert len(hist["edges"]) == len(hist["counts"]) + 1 == 41
    assert sum(hist["counts"]) == 5000
    assert evaluate_regression(y, pred, random_state=3) == result
    _json(result)


def test_it_keeps_every_row_of_a_small_regression_set():
    result = evaluate_regression([1.0, 2.0, 3.0], [1.5, 2.0, 2.0])
    assert result["scatter"]["actual"] == [1.0, 2.0, 3.0]
    assert result["residuals"]["residual"] == [-0.5, 0.0, 1.0]
    assert not result["scatter"]["sampled"]


def test_it_breaks_regression_errors_down_by_segment():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    pred = np.array([1.0, 2.0, 5.0, 4.0, 7.0, 6.0])
    segments = {
        "city": ["a", "a", "b", "b", None, "a"],
        "many": [f"g{i}" for i in range(6)],
    }
    by_segment = evaluate_regression(y, pred, segments=segments)["by_segment"]
    groups = {g["group"]: g for g in by_segment["city"]["groups"]}
    assert [g["group"] for g in by_segment["city"]["groups"]] == [
        "a",
        "b",
        "(missing)",
    ]
    assert groups["b"]["n"] == 2
    assert groups["b"]["mae"] == pytest.approx(1.0)
    assert groups["b"]["rmse"] == pytest.approx(np.sqrt(2.0))
    assert groups["b"]["mean_residual"] == pytest.approx(-1.0)
    assert groups["(missing)"]["mean_residual"] == pytest.approx(-2.0)
    assert by_segment["many"]["n_groups"] == 6

    many = evaluate_regression(
        np.zeros(100), np.ones(100), segments={"id": np.arange(100)}
    )["by_segment"]["id"]
    assert len(many["groups"]) == 20 and many["n_groups"] == 100


def test_it_describes_clusters_with_sizes_silhouette_and_a_projection():
    X, _ = make_blobs(n_samples=400, centers=3, n_features=5, random_state=0)
    labels = KMeans(n_clusters=3, n_init=3, random_state=0).fit_predict(X)
    labels[:10] = -1
    result = evaluate_clustering(X, labels)
    assert [s["cluster"] for s in result["sizes"]] == ["0", "1", "2", "noise"]
    assert sum(s["n"] for s in result["sizes"]) == 400
    silhouette = result["silhouette"]
    assert silhouette["overall"] == pytest.approx(skm.silhouette_score(X, labels))
    assert silhouette["overall"] == pytest.approx(
        compute_metrics("clustering", y_pred=labels, X=X)["silhouette"]
    )
    assert [c["cluster"] for c in silhouette["clusters"]] == ["0", "1", "2"]
    first = silhouette["clusters"][0]
    assert sum(first["counts"]) == first["n_sampled"] == (labels == 0).sum()
    assert len(first["quantiles"]) == 51
    assert first["quantiles"] == sorted(first["quantiles"])
    projection = result["projection"]
    assert len(projection["x"]) == len(projection["labels"]) == 400
    assert projection["method"] == "pca"
    assert sum(projection["explained_variance"]) <= 1.0
    _json(result)


def test_it_matches_the_sampled_silhouette_of_compute_metrics_on_large_data():
    X, _ = make_blobs(n_samples=6000, centers=4, n_features=3, random_state=0)
    labels = KMeans(n_clusters=4, n_init=1, random_state=0).fit_predict(X)
    result = evaluate_clustering(X, labels, random_state=7)
    expected = compute_metrics("clustering", y_pred=labels, X=X, random_state=7)
    assert result["silhouette"]["overall"] == pytest.approx(expected["silhouette"])
    assert result["silhouette"]["n_sampled"] == 5000
    assert len(result["projection"]["x"]) == MAX_SCATTER_POINTS
    assert result["projection"]["sampled"]


def test_it_projects_sparse_input_with_truncated_svd():
    X = sparse.random(300, 40, density=0.1, random_state=0, format="csr")
    labels = np.arange(300) % 3
    result = evaluate_clustering(X, labels)
    assert result["projection"]["method"] == "truncated_svd"
    assert len(result["projection"]["x"]) == 300
    assert result["silhouette"]["overall"] == pytest.approx(
        skm.silhouette_score(X, labels)
    )
    _json(result)


def test_it_gives_no_silhouette_for_a_single_cluster():
    X = np.random.default_rng(0).normal(size=(50, 1))
    result = evaluate_clustering(X, np.zeros(50, dtype=int))
    assert result["silhouette"]["overall"] is None
    assert result["silhouette"]["clusters"] == []
    assert "two clusters" in result["silhouette"]["note"]
    assert result["sizes"] == [{"cluster": "0", "n": 50, "share": 1.0}]
    assert result["projection"]["y"] == [0.0] * 50
    _json(result)


@pytest.fixture(scope="module")
def informative_frame():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = np.where(frame["signal"] + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    features = ColumnTransformer([("num", StandardScaler(), ["signal", "noise"])])
    pipeline = Pipeline([("features", features), ("model", LogisticRegression())])
    return pipeline.fit(frame, y), frame, y


def test_it_ranks_an_informative_column_above_a_noise_column(informative_frame):
    pipeline, frame, y = informative_frame
    rows = permutation_importance_table(pipeline, frame, y, scoring="f1")
    assert [r["feature"] for r in rows] == ["signal", "noise"]
    assert rows[0]["mean"] > 0.2 > abs(rows[1]["mean"])
    assert set(rows[0]) == {"feature", "mean", "std"}
    _json(rows)


def test_it_samples_rows_above_max_rows_for_importance(informative_frame):
    pipeline, frame, y = informative_frame
    rows = permutation_importance_table(
        pipeline, frame, y, scoring="accuracy", max_rows=100, n_repeats=2
    )
    assert rows[0]["feature"] == "signal"


def test_it_scores_importance_for_clustering_without_a_target():
    X, _ = make_blobs(n_samples=300, centers=3, n_features=2, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b"])
    frame["flat"] = 0.0
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("model", KMeans(3, n_init=2, random_state=0))]
    ).fit(frame)
    rows = permutation_importance_table(
        pipeline, frame, None, scoring=sklearn_scorer("silhouette"), n_repeats=2
    )
    assert rows[-1]["feature"] == "flat"
    assert rows[-1]["mean"] == pytest.approx(0.0)


def test_it_maps_metric_names_to_sklearn_scorers():
    assert sklearn_scorer("rmse") == "neg_root_mean_squared_error"
    assert sklearn_scorer("roc_auc", ["a", "b", "c"]) == "roc_auc_ovr"
    X, y = make_classification(n_samples=200, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    model = LogisticRegression().fit(X, labels)
    scorer = sklearn_scorer("recall", model.classes_)
    assert scorer(model, X, labels) == pytest.approx(
        skm.recall_score(labels, model.predict(X), pos_label="yes")
    )
    with pytest.raises(ValueError, match="needs the classes"):
        sklearn_scorer("f1")
    with pytest.raises(ValueError):
        sklearn_scorer("nope")


@pytest.fixture(scope="module")
def noisy():
    return make_classification(
        n_samples=600, n_features=10, n_informative=4, flip_y=0.3, random_state=0
    )


def test_it_calls_a_deep_tree_on_noisy_data_overfitting(noisy):
    X, y = noisy
    data = learning_curve_data(
        DecisionTreeClassifier(random_state=0), X, y, scoring="accuracy"
    )
    assert data["verdict"]["kind"] == "overfitting"
    assert data["train_mean"][-1] == pytest.approx(1.0)
    assert len(data["sizes"]) == len(data["val_mean"]) == len(data["val_std"]) == 5
    assert data["sizes"] == sorted(data["sizes"])
    _json(data)


def test_it_calls_a_dummy_model_underfitting(noisy):
    X, y = noisy
    data = learning_curve_data(
        DummyClassifier(strategy="most_frequent"), X, y, scoring="accuracy"
    )
    assert data["verdict"]["kind"] == "underfitting"
    assert "Under-fitting" in data["verdict"]["text"]


def test_it_reports_lower_is_better_metrics_in_their_natural_sign():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ [1.0, 2.0, 0.0] + rng.normal(0, 0.5, 300)
    data = learning_curve_data(LinearRegression(), X, y, scoring="rmse")
    assert data["higher_is_better"] is False
    assert all(v > 0 for v in data["val_mean"])
    assert data["val_mean"][-1] == pytest.approx(0.5, abs=0.15)
    assert data["baseline"] > data["val_mean"][-1]
    assert data["verdict"]["kind"] == "good_fit"
    by_name = learning_curve_data(
        LinearRegression(),
        X,
        y,
        scoring="neg_root_mean_squared_error",
        higher_is_better=False,
    )
    assert by_name["val_mean"] == pytest.approx(data["val_mean"])
