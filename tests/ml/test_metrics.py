from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs, make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

from projects.ml.metrics import compute_metrics, is_better, positive_label


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=300, n_features=6, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    model = LogisticRegression().fit(X, labels)
    return labels, model.predict(X), model.predict_proba(X), list(model.classes_)


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(
        n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=0
    )
    model = LogisticRegression(max_iter=500).fit(X, y)
    return y, model.predict(X), model.predict_proba(X), list(model.classes_)


def test_it_picks_the_later_label_as_the_positive_class():
    assert positive_label(["yes", "no"]) == "yes"
    assert positive_label([1, 0]) == 1
    assert positive_label([False, True]) is True
    with pytest.raises(ValueError):
        positive_label(["a", "b", "c"])


def test_it_matches_sklearn_for_binary_string_labels(binary):
    y, pred, proba, classes = binary
    got = compute_metrics("classification", y, pred, proba=proba, classes=classes)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, pred)
    )
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, pos_label="yes"))
    assert got["precision"] == pytest.approx(
        skm.precision_score(y, pred, pos_label="yes")
    )
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="yes"))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", proba[:, 1]))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=classes))


def test_it_matches_sklearn_for_multiclass_with_weighted_averages(multiclass):
    y, pred, proba, classes = multiclass
    got = compute_metrics("classification", y, pred, proba=proba, classes=classes)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for name, fn in [
        ("f1", skm.f1_score),
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
    ]:
        assert got[name] == pytest.approx(fn(y, pred, average="weighted"))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )


def test_it_matches_sklearn_for_regression():
    X, y = make_regression(n_samples=200, n_features=4, noise=10, random_state=0)
    y = y + 500  # no zeros, so mape is defined
    pred = LinearRegression().fit(X, y).predict(X)
    got = compute_metrics("regression", y, pred)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))


def test_it_matches_sklearn_for_clustering():
    X, _ = make_blobs(n_samples=300, centers=3, random_state=0)
    labels = KMeans(n_clusters=3, n_init=3, random_state=0).fit_predict(X)
    got = compute_metrics("clustering", y_pred=labels, X=X)
    assert got["silhouette"] == pytest.approx(skm.silhouette_score(X, labels))
    assert got["davies_bouldin"] == pytest.approx(skm.davies_bouldin_score(X, labels))
    assert got["calinski_harabasz"] == pytest.approx(
        skm.calinski_harabasz_score(X, labels)
    )


def test_it_gives_none_where_a_metric_is_undefined(binary):
    y, pred, _, classes = binary
    got = compute_metrics("classification", y, pred, classes=classes)
    assert got["roc_auc"] is None and got["log_loss"] is None
    one_class = compute_metrics(
        "classification", ["a", "a"], ["a", "b"], proba=np.array([[0.9, 0.1]] * 2)
    )
    assert one_class["roc_auc"] is None
    assert compute_metrics("regression", [0.0, 1.0], [0.5, 1.0])["mape"] is None
    assert compute_metrics("regression", [1.0], [2.0])["r2"] is None
    single = compute_metrics("clustering", y_pred=[0, 0, 0], X=np.eye(3))
    assert single == {
        "silhouette": None,
        "davies_bouldin": None,
        "calinski_harabasz": None,
    }
    json.dumps(got, allow_nan=False)


def test_it_refuses_a_metric_of_another_task():
    with pytest.raises(ValueError, match="not a regression metric"):
        compute_metrics("regression", [1.0], [1.0], metrics=["accuracy"])


def test_it_compares_scores_in_the_metric_direction():
    assert is_better("rmse", 1.0, 2.0)
    assert is_better("accuracy", 0.9, 0.8)
    assert not is_better("accuracy", None, 0.1)
    assert is_better("accuracy", 0.1, None)
