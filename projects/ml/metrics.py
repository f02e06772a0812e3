"""Metric values for the three task types, with scikit-learn's own functions.

One function, :func:`compute_metrics`, serves training (cross-validation folds,
train and validation), the final test evaluation and tuning, so a number on the
leaderboard always means the same thing. The metric names are the ones a project
chooses from on step 1.

Conventions
-----------
- Binary classification: the *positive* class is ``classes[1]`` of the sorted
  classes (the column ``predict_proba(X)[:, 1]`` belongs to), i.e. ``1`` for 0/1,
  ``True`` for booleans and the later label alphabetically for text (``"yes"``
  over ``"no"``). ``f1``, ``precision`` and ``recall`` are for that class.
- Multiclass: ``f1``, ``precision`` and ``recall`` are weighted averages over the
  classes, ``f1_macro`` the unweighted one, ``roc_auc`` one-vs-rest macro.
- A metric that cannot be computed (``roc_auc`` without scores, or with a single
  class present) is ``None``, never NaN, so it survives JSON.

Pure numpy + scikit-learn: never imports Django.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn import metrics as skm

__all__ = [
    "HIGHER_IS_BETTER",
    "compute_metrics",
    "is_better",
    "positive_label",
]

# Mirrors projects.models.METRICS (which may not be imported here).
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "f1": True,
    "f1_macro": True,
    "precision": True,
    "recall": True,
    "roc_auc": True,
    "log_loss": False,
    "rmse": False,
    "mae": False,
    "r2": True,
    "mape": False,
    "silhouette": True,
    "davies_bouldin": False,
    "calinski_harabasz": True,
}

CLASSIFICATION = (
    "accuracy",
    "balanced_accuracy",
    "f1",
    "f1_macro",
    "precision",
    "recall",
    "roc_auc",
    "log_loss",
)
REGRESSION = ("rmse", "mae", "r2", "mape")
CLUSTERING = ("silhouette", "davies_bouldin", "calinski_harabasz")
BY_TASK = {
    "classification": CLASSIFICATION,
    "regression": REGRESSION,
    "clustering": CLUSTERING,
}
# Silhouette is quadratic in rows: above this it is computed on a seeded sample.
SILHOUETTE_SAMPLE = 5_000


def positive_label(classes: Any) -> Any:
    """The positive class of a binary task: the second of the sorted classes."""
    classes = list(classes)
    if len(classes) != 2:
        raise ValueError(f"positive_label needs two classes, got {len(classes)}")
    return sorted(classes, key=_sort_key)[1]


def _sort_key(value: Any) -> tuple:
    # Mixed types never reach here from a real column, but sort them stably.
    return (type(value).__name__, value)


def is_better(metric: str, a: float | None, b: float | None) -> bool:
    """True when score ``a`` beats ``b`` on ``metric`` (None never beats anything)."""
    if a is None:
        return False
    if b is None:
        return True
    return a > b if HIGHER_IS_BETTER.get(metric, True) else a < b


def _clean(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def compute_metrics(
    task_type: str,
    y_true: Any = None,
    y_pred: Any = None,
    *,
    proba: np.ndarray | None = None,
    classes: Any = None,
    X: Any = None,
    metrics: Any = None,
    random_state: int = 0,
) -> dict[str, float | None]:
    """Compute the task's metrics.

    Parameters
    ----------
    task_type : {"classification", "regression", "clustering"}
    y_true, y_pred : array-like
        True and predicted values (classification, regression); for clustering,
        ``y_pred`` holds the cluster labels.
    proba : ndarray of shape (n, n_classes), optional
        Class probabilities in the order of ``classes``; needed for ``roc_auc``
        and ``log_loss`` (``None`` without it).
    classes : array-like, optional
        The model's classes (``estimator.classes_``); by default the sorted
        union of ``y_true`` and ``y_pred``.
    X : array-like, optional
        The transformed features (clustering only).
    metrics : iterable of str, optional
        Which metrics to compute; all of the task's by default.
    random_state : int, default=0
        Seeds the silhouette sample above ``SILHOUETTE_SAMPLE`` rows.

    Returns
    -------
    dict
        Metric name to value; ``None`` where it is undefined.
    """
    wanted = tuple(metrics) if metrics is not None else BY_TASK[task_type]
    unknown = [m for m in wanted if m not in BY_TASK[task_type]]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a {task_type} metric")
    if task_type == "classification":
        return _classification(y_true, y_pred, proba, classes, wanted)
    if task_type == "regression":
        return _regression(y_true, y_pred, wanted)
    return _clustering(X, y_pred, wanted, random_state)


def _classification(y_true, y_pred, proba, classes, wanted) -> dict:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if classes is None:
        classes = sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=_sort_key)
    classes = list(classes)
    binary = len(classes) == 2
    if binary:
        pos = positive_label(classes)
        averaged = {"average": "binary", "pos_label": pos}
    else:
        averaged = {"average": "weighted"}
    out: dict[str, float | None] = {}
    for name in wanted:
        if name == "accuracy":
            value = skm.accuracy_score(y_true, y_pred)
        elif name == "balanced_accuracy":
            value = skm.balanced_accuracy_score(y_true, y_pred)
        elif name in ("f1", "precision", "recall"):
            fn = {
                "f1": skm.f1_score,
                "precision": skm.precision_score,
                "recall": skm.recall_score,
            }[name]
            value = fn(y_true, y_pred, zero_division=0, **averaged)
        elif name == "f1_macro":
            value = skm.f1_score(
                y_true, y_pred, average="macro", labels=classes, zero_division=0
            )
        elif name == "roc_auc":
            value = _roc_auc(y_true, proba, classes)
        else:  # log_loss
            value = (
                None
                if proba is None
                else skm.log_loss(y_true, np.clip(proba, 1e-15, 1), labels=classes)
            )
        out[name] = None if value is None else _clean(value)
    return out


def _roc_auc(y_true, proba, classes) -> float | None:
    if proba is None or len(set(y_true.tolist())) < 2:
        return None
    if len(classes) == 2:
        pos_index = classes.index(positive_label(classes))
        return skm.roc_auc_score(y_true == classes[pos_index], proba[:, pos_index])
    present = set(y_true.tolist())
    if len(present) < len(classes):
        # One-vs-rest needs every class in y_true; average over those present.
        scores = [
            skm.roc_auc_score(y_true == c, proba[:, i])
            for i, c in enumerate(classes)
            if c in present
        ]
        return float(np.mean(scores))
    return skm.roc_auc_score(
        y_true, proba, multi_class="ovr", average="macro", labels=classes
    )


def _regression(y_true, y_pred, wanted) -> dict:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    out: dict[str, float | None] = {}
    for name in wanted:
        if name == "rmse":
            value = skm.root_mean_squared_error(y_true, y_pred)
        elif name == "mae":
            value = skm.mean_absolute_error(y_true, y_pred)
        elif name == "r2":
            value = skm.r2_score(y_true, y_pred) if len(y_true) > 1 else None
        else:  # mape: undefined when a true value is 0
            value = (
                None
                if np.any(y_true == 0)
                else skm.mean_absolute_percentage_error(y_true, y_pred)
            )
        out[name] = None if value is None else _clean(value)
    return out


def _clustering(X, labels, wanted, random_state) -> dict:
    labels = np.asarray(labels)
    n_clusters = len(set(labels.tolist()) - {-1})
    usable = X is not None and 2 <= n_clusters < len(labels)
    out: dict[str, float | None] = {}
    for name in wanted:
        if not usable:
            out[name] = None
            continue
        if name == "silhouette":
            size = SILHOUETTE_SAMPLE if len(labels) > SILHOUETTE_SAMPLE else None
            value = skm.silhouette_score(
                X, labels, sample_size=size, random_state=random_state
            )
        elif name == "davies_bouldin":
            value = skm.davies_bouldin_score(_dense(X), labels)
        else:
            value = skm.calinski_harabasz_score(_dense(X), labels)
        out[name] = _clean(value)
    return out


def _dense(X: Any) -> np.ndarray:
    return X.toarray() if hasattr(X, "toarray") else np.asarray(X)
