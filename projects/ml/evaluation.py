"""Evaluation data for step 7: what the dashboards draw, computed once after fitting.

The training job calls these functions right after a model is fitted and stores
what they return on the Experiment; the pages draw it with
:mod:`projects.charts.evaluation` without the model or the rows. So every result is
a plain, JSON-serialisable structure (python ``float``/``int``/``str``/``bool``,
``None`` in place of NaN or infinity) and bounded in size whatever the data size:

- curves (ROC, precision-recall) keep at most ``MAX_CURVE_POINTS`` points; their
  areas are computed on the full curve first;
- scatter samples keep at most ``MAX_SCATTER_POINTS`` rows, chosen with a seeded
  generator, so the same model gives the same picture;
- distributions are binned (``RESIDUAL_BINS``, ``SILHOUETTE_QUANTILES``).

Metric conventions (positive class, averaging) are those of
:mod:`projects.ml.metrics`, so a number here matches the leaderboard's.

Pure numpy + pandas + scikit-learn: never imports Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn import metrics as skm
from sklearn.base import clone, is_classifier
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.inspection import permutation_importance
from sklearn.model_selection import check_cv, cross_val_score, learning_curve
from sklearn.pipeline import Pipeline

from projects.ml.metrics import (
    BY_TASK,
    HIGHER_IS_BETTER,
    SILHOUETTE_SAMPLE,
    compute_metrics,
    positive_label,
)

__all__ = [
    "CALIBRATION_BINS",
    "MAX_CURVE_POINTS",
    "MAX_SCATTER_POINTS",
    "evaluate_classification",
    "evaluate_clustering",
    "evaluate_regression",
    "learning_curve_data",
    "permutation_importance_table",
    "sklearn_scorer",
    "threshold_metrics",
]

MAX_CURVE_POINTS = 200
MAX_SCATTER_POINTS = 2_000
CALIBRATION_BINS = 10
THRESHOLD_STEPS = 100  # 101 thresholds: 0.00, 0.01, ..., 1.00
RESIDUAL_BINS = 40
MAX_SEGMENT_GROUPS = 20
SILHOUETTE_BINS = 20  # fixed edges -1.0, -0.9, ..., 1.0
SILHOUETTE_QUANTILES = 51  # sorted values at 0%, 2%, ..., 100% of each cluster
MISSING_GROUP = "(missing)"
NOISE = "noise"

# Learning-curve verdict rules, on scores scaled so that the baseline (a dummy model
# on the same folds) is 0 and a perfect score is 1 (see learning_curve_data).
UNDERFIT_SKILL = 0.2
OVERFIT_GAP = 0.2
MORE_DATA_GAIN = 0.03
GAP_CLOSING_SHARE = 0.5

# sklearn scorer names for our metric names; binary f1/precision/recall are built
# in sklearn_scorer because they need the positive label.
_SCORERS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "f1_macro": "f1_macro",
    "log_loss": "neg_log_loss",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
    "mape": "neg_mean_absolute_percentage_error",
}


# ------------------------------------------------------------------ helpers


def _num(value: Any) -> float | None:
    """A python float, or None for NaN/inf/None."""
    if value is None:
        return None
    value = float(value)
    # + 0.0 turns -0.0 (a negated perfect error) into 0.0.
    return value + 0.0 if math.isfinite(value) else None


def _floats(values: Any) -> list[float | None]:
    return [_num(v) for v in np.asarray(values, dtype=float).ravel()]


def _native(value: Any) -> Any:
    """A numpy scalar as the python value json understands."""
    return value.item() if isinstance(value, np.generic) else value


def _downsample(n: int, limit: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Evenly spaced indices of ``n`` points keeping the first and the last."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def _sample_indices(n: int, size: int, random_state: int) -> np.ndarray:
    """Sorted seeded sample of ``size`` row positions out of ``n`` (all when fewer)."""
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=size, replace=False))


def _group_labels(values: Any, n: int, name: str) -> np.ndarray:
    """Group values as text, missing values as their own group."""
    series = pd.Series(values).reset_index(drop=True)
    if len(series) != n:
        raise ValueError(f"{name!r} has {len(series)} values for {n} rows")
    missing = series.isna().to_numpy()
    text = series.astype(object).where(~missing, MISSING_GROUP).map(str)
    return text.to_numpy(dtype=object)


# ----------------------------------------------------------- classification


def evaluate_classification(
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None,
    classes: Any,
    *,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Confusion matrix, ROC, precision-recall, calibration and a threshold table.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels.
    proba : ndarray of shape (n, n_classes) or None
        ``predict_proba`` output, columns in the order of ``classes``. None for
        models without probabilities: then ``roc``, ``pr``, ``calibration`` and
        ``thresholds`` are None.
    classes : array-like
        The model's classes (``estimator.classes_``); None for the sorted union of
        ``y_true`` and ``y_pred``.
    threshold : float, optional
        Binary tasks with ``proba``: a chosen decision threshold. The confusion
        matrix then counts ``proba[:, positive] >= threshold`` as the prediction
        (instead of ``y_pred``), and ``"threshold"`` holds
        :func:`threshold_metrics` at it. Ignored for multiclass tasks.

    Returns
    -------
    dict
        ``classes``
            The classes as text, in the order of ``classes``.
        ``positive_label``
            The positive class as text (binary, see
            :func:`projects.ml.metrics.positive_label`), else None.
        ``confusion``
            ``{"labels", "counts", "normalized"}``: ``counts[i][j]`` rows whose
            true class is ``labels[i]`` predicted as ``labels[j]``; ``normalized``
            divides each row by its total (rows sum to 1; a class absent from
            ``y_true`` has a row of None).
        ``roc``
            A list of ``{"label", "fpr", "tpr", "auc"}``: one curve for the
            positive class (binary) or one-vs-rest per class (multiclass; a class
            absent from ``y_true``, or the only one present, has no curve).
            ``auc`` equals :func:`sklearn.metrics.roc_auc_score` of that curve.
        ``pr``
            The same with ``{"label", "precision", "recall",
            "average_precision"}`` (:func:`sklearn.metrics.average_precision_score`).
        ``calibration``
            ``{"prob_pred", "prob_true", "counts", "strategy", "kind", "label"}``
            over ``CALIBRATION_BINS`` *uniform* bins of width 0.1 (empty bins
            left out), as :func:`sklearn.calibration.calibration_curve` with
            ``strategy="uniform"``. Uniform bins are read as probability ranges
            ("of the rows given 70-80%, how many were positive?") and their
            ``counts`` show where the model's scores actually lie, which quantile
            bins would hide. Binary: the positive class's probability against the
            share of positives (``kind="positive_class"``); multiclass: the
            top-class probability (confidence) against the share of rows where
            the top class is right (``kind="top_class"``).
        ``thresholds``
            Binary only, else None: 101 rows ``{"threshold", "precision",
            "recall", "f1", "predicted_positive_rate"}`` for thresholds 0.00 to
            1.00 in steps of 0.01, predicting positive when
            ``proba[:, positive] >= threshold`` (precision is 0 when nothing is
            predicted positive, as in compute_metrics).
        ``threshold``
            :func:`threshold_metrics` at the chosen ``threshold``, else None.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if classes is None:
        classes = sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=str)
    classes = [_native(c) for c in classes]
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
        if proba.ndim != 2 or proba.shape != (len(y_true), len(classes)):
            raise ValueError(
                f"proba has shape {proba.shape}, expected "
                f"({len(y_true)}, {len(classes)})"
            )
    binary = len(classes) == 2
    pos = positive_label(classes) if binary else None
    pos_index = classes.index(pos) if binary else None

    table = None
    chosen = None
    shown_pred = y_pred
    if binary and proba is not None:
        scores = proba[:, pos_index]
        table = _threshold_table(y_true == pos, scores)
        if threshold is not None:
            chosen = threshold_metrics(table, threshold)
            neg = classes[1 - pos_index]
            shown_pred = np.where(scores >= float(threshold), pos, neg)

    return {
        "classes": [str(c) for c in classes],
        "positive_label": None if pos is None else str(pos),
        "confusion": _confusion(y_true, shown_pred, classes),
        "roc": None if proba is None else _roc_curves(y_true, proba, classes),
        "pr": None if proba is None else _pr_curves(y_true, proba, classes),
        "calibration": (
            None if proba is None else _calibration(y_true, proba, classes, pos)
        ),
        "thresholds": table,
        "threshold": chosen,
    }


def _confusion(y_true, y_pred, classes) -> dict:
    counts = skm.confusion_matrix(y_true, y_pred, labels=classes)
    totals = counts.sum(axis=1, keepdims=True)
    normalized = [
        [float(c) / total for c in row] if total else [None] * len(row)
        for row, total in zip(counts.tolist(), totals.ravel().tolist(), strict=True)
    ]
    return {
        "labels": [str(c) for c in classes],
        "counts": counts.tolist(),
        "normalized": normalized,
    }


def _one_vs_rest(y_true, classes) -> list[tuple[str, int, np.ndarray]]:
    """(label, proba column, is-this-class) for each curve to draw."""
    if len(classes) == 2:
        pos = positive_label(classes)
        wanted = [(pos, classes.index(pos))]
    else:
        wanted = [(c, i) for i, c in enumerate(classes)]
    out = []
    for label, index in wanted:
        hits = y_true == label
        if 0 < hits.sum() < len(hits):  # a curve needs both kinds of rows
            out.append((str(label), index, hits))
    return out


def _roc_curves(y_true, proba, classes) -> list[dict]:
    curves = []
    for label, index, hits in _one_vs_rest(y_true, classes):
        fpr, tpr, _ = skm.roc_curve(hits, proba[:, index])
        keep = _downsample(len(fpr))
        curves.append(
            {
                "label": label,
                "fpr": _floats(fpr[keep]),
                "tpr": _floats(tpr[keep]),
                "auc": _num(skm.roc_auc_score(hits, proba[:, index])),
            }
        )
    return curves


def _pr_curves(y_true, proba, classes) -> list[dict]:
    curves = []
    for label, index, hits in _one_vs_rest(y_true, classes):
        precision, recall, _ = skm.precision_recall_curve(hits, proba[:, index])
        keep = _downsample(len(precision))
        curves.append(
            {
                "label": label,
                "precision": _floats(precision[keep]),
                "recall": _floats(recall[keep]),
                "average_precision": _num(
                    skm.average_precision_score(hits, proba[:, index])
                ),
            }
        )
    return curves


def _calibration(y_true, proba, classes, pos) -> dict:
    if pos is not None:
        prob = proba[:, classes.index(pos)]
        hit = (y_true == pos).astype(float)
        kind, label = "positive_class", str(pos)
    else:
        top = proba.argmax(axis=1)
        prob = proba[np.arange(len(proba)), top]
        hit = (np.asarray(classes, dtype=object)[top] == y_true).astype(float)
        kind, label = "top_class", None
    prob = np.clip(prob, 0.0, 1.0)
    # The binning of sklearn.calibration.calibration_curve(strategy="uniform"),
    # which does not return the counts per bin.
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    ids = np.searchsorted(edges[1:-1], prob)
    sums = np.bincount(ids, weights=prob, minlength=CALIBRATION_BINS)
    trues = np.bincount(ids, weights=hit, minlength=CALIBRATION_BINS)
    totals = np.bincount(ids, minlength=CALIBRATION_BINS)
    nonzero = totals > 0
    return {
        "prob_pred": _floats(sums[nonzero] / totals[nonzero]),
        "prob_true": _floats(trues[nonzero] / totals[nonzero]),
        "counts": [int(c) for c in totals[nonzero]],
        "strategy": "uniform",
        "kind": kind,
        "label": label,
    }


def _threshold_table(is_positive: np.ndarray, scores: np.ndarray) -> list[dict]:
    thresholds = np.arange(THRESHOLD_STEPS + 1) / THRESHOLD_STEPS
    n = len(scores)
    order = np.sort(scores)
    positives = np.sort(scores[is_positive])
    # Rows with score >= t, counted from sorted scores instead of 101 passes.
    predicted = n - np.searchsorted(order, thresholds, side="left")
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    rows = []
    for t, p, hits in zip(thresholds, predicted, tp, strict=True):
        precision = hits / p if p else 0.0
        recall = hits / len(positives) if len(positives) else 0.0
        f1 = (
            2 * precision * recall / (precision + recall) if precision + recall else 0.0
        )
        rows.append(
            {
                "threshold": float(t),
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "predicted_positive_rate": float(p / n) if n else 0.0,
            }
        )
    return rows


def threshold_metrics(table: Sequence[Mapping[str, Any]], threshold: float) -> dict:
    """The row of a threshold table nearest a chosen threshold.

    Parameters
    ----------
    table : list of dict
        ``evaluate_classification(...)["thresholds"]``.
    threshold : float
        The chosen threshold, between 0 and 1.

    Returns
    -------
    dict
        A copy of the nearest row (``threshold``, ``precision``, ``recall``,
        ``f1``, ``predicted_positive_rate``; ``threshold`` is the table's, e.g.
        0.35 for 0.348) plus ``requested``, the threshold asked for.

    Raises
    ------
    ValueError
        Without a table (multiclass, or no probabilities) or for a threshold
        outside 0..1.
    """
    if not table:
        raise ValueError("There is no threshold table for this model.")
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError("The threshold must be a number between 0 and 1.") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError("The threshold must be a number between 0 and 1.")
    row = min(table, key=lambda r: (abs(r["threshold"] - value), r["threshold"]))
    return {**row, "requested": value}


# --------------------------------------------------------------- regression


def evaluate_regression(
    y_true: Any,
    y_pred: Any,
    *,
    segments: Mapping[str, Any] | None = None,
    random_state: int = 0,
) -> dict[str, Any]:
    """Predicted vs actual, residuals and error by segment.

    The residual is ``actual - predicted``: positive where the model predicts too
    low.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
    segments : dict of str to array-like, optional
        Categorical values per row (same order as ``y_true``) of columns to break
        the error down by; they need not be model inputs. Missing values are the
        group ``"(missing)"``.
    random_state : int, default=0
        Seeds the scatter sample.

    Returns
    -------
    dict
        ``n``
            Rows evaluated.
        ``scatter``
            ``{"actual", "predicted"}``: the same seeded sample of at most
            ``MAX_SCATTER_POINTS`` rows, plus ``n_total`` and ``sampled``.
        ``residuals``
            ``{"predicted", "residual"}`` of the same sample rows, plus
            ``n_total`` and ``sampled``.
        ``residual_hist``
            ``{"edges", "counts"}``: all residuals in ``RESIDUAL_BINS`` equal bins
            (``len(edges) == len(counts) + 1``).
        ``by_segment``
            ``{column: {"groups": [{"group", "n", "mae", "rmse",
            "mean_residual"}], "n_groups"}}``: the ``MAX_SEGMENT_GROUPS``
            largest groups, largest first; ``n_groups`` counts them all.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape:
        raise ValueError("y_true and y_pred have different lengths")
    n = len(y_true)
    residual = y_true - y_pred
    keep = _sample_indices(n, MAX_SCATTER_POINTS, random_state)
    sampled = len(keep) < n
    finite = residual[np.isfinite(residual)]
    if len(finite):
        counts, edges = np.histogram(finite, bins=RESIDUAL_BINS)
    else:
        counts, edges = np.zeros(0, dtype=int), np.zeros(0)
    by_segment = {}
    for column, values in (segments or {}).items():
        by_segment[str(column)] = _segment_errors(
            _group_labels(values, n, column), residual
        )
    return {
        "n": n,
        "scatter": {
            "actual": _floats(y_true[keep]),
            "predicted": _floats(y_pred[keep]),
            "n_total": n,
            "sampled": sampled,
        },
        "residuals": {
            "predicted": _floats(y_pred[keep]),
            "residual": _floats(residual[keep]),
            "n_total": n,
            "sampled": sampled,
        },
        "residual_hist": {"edges": _floats(edges), "counts": counts.tolist()},
        "by_segment": by_segment,
    }


def _segment_errors(labels: np.ndarray, residual: np.ndarray) -> dict:
    frame = pd.DataFrame({"group": labels, "r": residual})
    frame["abs"] = frame["r"].abs()
    frame["sq"] = frame["r"] ** 2
    stats = frame.groupby("group", sort=False).agg(
        n=("r", "size"), mae=("abs", "mean"), mse=("sq", "mean"), mean=("r", "mean")
    )
    stats = stats.reset_index().sort_values(
        ["n", "group"], ascending=[False, True], kind="stable"
    )
    groups = [
        {
            "group": str(row.group),
            "n": int(row.n),
            "mae": _num(row.mae),
            "rmse": _num(math.sqrt(row.mse)) if _num(row.mse) is not None else None,
            "mean_residual": _num(row.mean),
        }
        for row in stats.head(MAX_SEGMENT_GROUPS).itertuples(index=False)
    ]
    return {"groups": groups, "n_groups": len(stats)}


# --------------------------------------------------------------- clustering


def evaluate_clustering(
    X_transformed: Any,
    labels: Any,
    *,
    random_state: int = 0,
    sample: int = SILHOUETTE_SAMPLE,
) -> dict[str, Any]:
    """Cluster sizes, silhouette per cluster and a 2-D projection.

    Parameters
    ----------
    X_transformed : array-like or sparse matrix of shape (n, n_features)
        The model inputs (the output of the pipeline's feature step).
    labels : array-like of shape (n,)
        Cluster labels; ``-1`` is noise (DBSCAN).
    random_state : int, default=0
        Seeds the silhouette and projection samples.
    sample : int, default=SILHOUETTE_SAMPLE
        Silhouette is quadratic in rows: it is computed on this many rows at most,
        drawn like :func:`sklearn.metrics.silhouette_score` draws its
        ``sample_size`` rows, so ``overall`` equals
        ``compute_metrics(...)["silhouette"]`` for the default sample.

    Returns
    -------
    dict
        ``n``
            Rows.
        ``sizes``
            ``[{"cluster", "n", "share"}]`` per label in label order, noise
            (``-1``) last as cluster ``"noise"``; ``cluster`` is text.
        ``silhouette``
            ``{"overall", "clusters", "edges", "n_sampled", "note"}``.
            ``overall`` is the mean silhouette of the sampled rows (noise counted
            as one more cluster, as scikit-learn and compute_metrics do);
            ``clusters`` is ``[{"cluster", "n_sampled", "mean", "counts",
            "quantiles"}]`` for the real clusters, ``counts`` over the shared
            ``edges`` (-1 to 1 in ``SILHOUETTE_BINS`` bins) and ``quantiles`` the
            sorted values at ``SILHOUETTE_QUANTILES`` evenly spaced ranks
            (for a silhouette "knife" plot). With fewer than two clusters (or
            as many clusters as rows) ``overall`` is None, ``clusters`` empty and
            ``note`` says why; otherwise ``note`` is None.
        ``projection``
            ``{"x", "y", "labels", "explained_variance", "method", "n_total",
            "sampled"}``: a seeded sample of at most ``MAX_SCATTER_POINTS`` rows
            projected on two components, PCA for dense input and TruncatedSVD
            (no centring, so sparsity is kept) for sparse input;
            ``explained_variance`` is the share of variance of each component.
            With a single input column ``y`` is all zeros.
    """
    labels = np.asarray(labels)
    n = len(labels)
    X = X_transformed if sparse.issparse(X_transformed) else np.asarray(X_transformed)
    if sparse.issparse(X):
        X = sparse.csr_matrix(X)
    if X.shape[0] != n:
        raise ValueError(f"X has {X.shape[0]} rows for {n} labels")
    return {
        "n": n,
        "sizes": _sizes(labels),
        "silhouette": _silhouette(X, labels, random_state, sample),
        "projection": _projection(X, labels, random_state),
    }


def _cluster_name(label: Any) -> str:
    return NOISE if _native(label) == -1 else str(_native(label))


def _ordered(values) -> list:
    values = [_native(v) for v in values]
    return sorted(values, key=lambda v: (v == -1, str(type(v)), v))


def _sizes(labels: np.ndarray) -> list[dict]:
    values, counts = np.unique(labels, return_counts=True)
    by_label = dict(zip([_native(v) for v in values], counts.tolist(), strict=True))
    n = len(labels)
    return [
        {"cluster": _cluster_name(v), "n": int(by_label[v]), "share": by_label[v] / n}
        for v in _ordered(by_label)
    ]


def _silhouette(X, labels, random_state: int, sample: int) -> dict:
    edges = np.linspace(-1.0, 1.0, SILHOUETTE_BINS + 1)
    empty = {"overall": None, "clusters": [], "edges": _floats(edges), "n_sampled": 0}
    n = len(labels)
    n_clusters = len(set(labels.tolist()) - {-1})
    if n_clusters < 2:
        return {**empty, "note": "Silhouette needs at least two clusters."}
    # The rows silhouette_score(sample_size=...) would draw.
    if n > sample:
        rows = np.random.RandomState(random_state).permutation(n)[:sample]
        Xs, ls = X[rows], labels[rows]
    else:
        Xs, ls = X, labels
    if not 2 <= len(set(ls.tolist())) <= len(ls) - 1:
        return {
            **empty,
            "note": "Silhouette needs at least two clusters and more rows than "
            "clusters.",
        }
    values = skm.silhouette_samples(Xs, ls)
    ranks = np.linspace(0.0, 1.0, SILHOUETTE_QUANTILES)
    clusters = []
    for label in _ordered(set(ls.tolist())):
        if label == -1:
            continue
        mine = values[ls == label]
        counts, _ = np.histogram(np.clip(mine, -1.0, 1.0), bins=edges)
        clusters.append(
            {
                "cluster": _cluster_name(label),
                "n_sampled": len(mine),
                "mean": _num(mine.mean()),
                "counts": counts.tolist(),
                "quantiles": _floats(np.quantile(mine, ranks)),
            }
        )
    return {
        "overall": _num(values.mean()),
        "clusters": clusters,
        "edges": _floats(edges),
        "n_sampled": len(ls),
        "note": None,
    }


def _projection(X, labels, random_state: int) -> dict:
    n = len(labels)
    keep = _sample_indices(n, MAX_SCATTER_POINTS, random_state)
    Xs = X[keep]
    n_features = Xs.shape[1]
    method = "pca"
    if sparse.issparse(Xs) and n_features > 2:
        reducer = TruncatedSVD(n_components=2, random_state=random_state)
        method = "truncated_svd"
    else:
        if sparse.issparse(Xs):
            Xs = Xs.toarray()
        components = max(1, min(2, n_features, len(keep)))
        reducer = PCA(n_components=components, random_state=random_state)
    if len(keep) == 0 or n_features == 0:
        points = np.zeros((len(keep), 2))
        explained = [None, None]
    else:
        points = reducer.fit_transform(Xs)
        explained = _floats(reducer.explained_variance_ratio_)
    if points.shape[1] < 2:
        points = np.column_stack([points, np.zeros(len(points))])
        explained = [*explained, None][:2]
    return {
        "x": _floats(points[:, 0]),
        "y": _floats(points[:, 1]),
        "labels": [_cluster_name(v) for v in labels[keep]],
        "explained_variance": explained,
        "method": method,
        "n_total": n,
        "sampled": len(keep) < n,
    }


# ------------------------------------------------------- scorers, importance


def sklearn_scorer(metric: str, classes: Any = None) -> str | Callable:
    """A scikit-learn ``scoring`` for one of our metric names.

    Parameters
    ----------
    metric : str
        A name of :data:`projects.ml.metrics.HIGHER_IS_BETTER`.
    classes : array-like, optional
        The classes of a classification task; needed for ``f1``, ``precision``,
        ``recall`` and ``roc_auc``, which depend on binary or multiclass.

    Returns
    -------
    str or callable
        A scorer name or a scorer ``(estimator, X, y) -> float``. Like every
        scikit-learn scorer, greater is better: metrics where lower is better
        come negated (``rmse`` is ``"neg_root_mean_squared_error"``). Binary
        ``f1``/``precision``/``recall`` are for the positive label
        (:func:`projects.ml.metrics.positive_label`), multiclass ones weighted,
        as in compute_metrics. Clustering metrics score
        ``estimator.predict(X)`` on the features the pipeline's last step sees,
        with compute_metrics (``y`` is ignored; NaN when undefined).
    """
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"{metric!r} is not a metric name")
    if metric in _SCORERS:
        return _SCORERS[metric]
    if metric in BY_TASK["clustering"]:
        return _ClusteringScorer(metric)
    if classes is None:
        raise ValueError(f"{metric!r} needs the classes to choose a scorer")
    classes = [_native(c) for c in classes]
    binary = len(classes) == 2
    if metric == "roc_auc":
        # sklearn scores classes_[1], the positive label of sorted classes.
        return "roc_auc" if binary else "roc_auc_ovr"
    fn = {"f1": skm.f1_score, "precision": skm.precision_score}.get(
        metric, skm.recall_score
    )
    if binary:
        return skm.make_scorer(
            fn, pos_label=positive_label(classes), average="binary", zero_division=0
        )
    return skm.make_scorer(fn, average="weighted", zero_division=0)


class _ClusteringScorer:
    """Scorer for a clustering metric, negated when lower is better."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def __call__(self, estimator: Any, X: Any, y: Any = None) -> float:
        labels = estimator.predict(X)
        features = (
            estimator[:-1].transform(X)
            if isinstance(estimator, Pipeline) and len(estimator) > 1
            else X
        )
        value = compute_metrics(
            "clustering", y_pred=labels, X=features, metrics=[self.metric]
        )[self.metric]
        if value is None:
            return float("nan")
        return value if HIGHER_IS_BETTER[self.metric] else -value

    def __repr__(self) -> str:
        return f"_ClusteringScorer({self.metric!r})"


def _resolve_scoring(scoring: Any, y: Any, estimator: Any) -> tuple[Any, bool | None]:
    """Our metric names to a scorer and their direction; anything else as given."""
    if isinstance(scoring, str) and scoring in HIGHER_IS_BETTER:
        classes = getattr(estimator, "classes_", None)
        if classes is None and y is not None:
            classes = np.unique(np.asarray(y))
        return sklearn_scorer(scoring, classes), HIGHER_IS_BETTER[scoring]
    return scoring, None


def permutation_importance_table(
    pipeline: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    scoring: str | Callable,
    n_repeats: int = 5,
    random_state: int = 0,
    max_rows: int = 5_000,
) -> list[dict[str, Any]]:
    """Permutation importance of each raw input column of a fitted Pipeline.

    The whole pipeline (features and model) is scored, so shuffling one column
    of ``X`` measures what that *input column* is worth, however many model
    inputs the feature step made from it.

    Parameters
    ----------
    pipeline : fitted estimator
        The fitted Pipeline.
    X : DataFrame
        Validation rows with the raw input columns.
    y : array-like or None
        Targets; None for clustering (then ``scoring`` must be a callable that
        ignores ``y``, such as ``sklearn_scorer("silhouette")``).
    scoring : str or callable
        One of our metric names (mapped with :func:`sklearn_scorer`), a
        scikit-learn scorer name or a scorer callable ``(estimator, X, y)``.
    n_repeats : int, default=5
    random_state : int, default=0
        Seeds the row sample and the shuffles.
    max_rows : int, default=5000
        Above this many rows a seeded sample of ``max_rows`` rows is used.

    Returns
    -------
    list of dict
        ``{"feature", "mean", "std"}`` per column, largest mean first: the mean
        and standard deviation over the repeats of the drop in score when the
        column is shuffled (in the scorer's greater-is-better sign, so positive
        means the column helps, also for error metrics like rmse).
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a DataFrame of the raw input columns")
    keep = _sample_indices(len(X), max_rows, random_state)
    X = X.iloc[keep]
    if y is not None:
        y = np.asarray(y)[keep]
    scorer, _ = _resolve_scoring(scoring, y, pipeline)
    result = permutation_importance(
        pipeline,
        X,
        y,
        scoring=scorer,
        n_repeats=n_repeats,
        random_state=random_state,
    )
    rows = [
        {"feature": str(col), "mean": _num(mean), "std": _num(std)}
        for col, mean, std in zip(
            X.columns, result.importances_mean, result.importances_std, strict=True
        )
    ]
    rows.sort(key=lambda r: -(r["mean"] if r["mean"] is not None else -math.inf))
    return rows


# ---------------------------------------------------------------- learning


def learning_curve_data(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    scoring: str | Callable,
    cv: Any = 3,
    train_sizes: Sequence[float] = (0.1, 0.325, 0.55, 0.775, 1.0),
    random_state: int = 0,
    higher_is_better: bool | None = None,
) -> dict[str, Any]:
    """Train and validation scores as the training set grows, with a verdict.

    Parameters
    ----------
    estimator : estimator
        Unfitted (it is cloned), usually the whole Pipeline.
    X, y : array-like
        The training split.
    scoring : str or callable
        One of our metric names (mapped with :func:`sklearn_scorer`, direction
        from HIGHER_IS_BETTER), a scikit-learn scorer name or a scorer callable.
    cv : int or splitter, default=3
        As :func:`sklearn.model_selection.learning_curve` (stratified folds for
        classifiers).
    train_sizes : sequence of float
        Shares of the training folds.
    random_state : int, default=0
        Seeds the shuffle that picks the rows of each training size.
    higher_is_better : bool, optional
        Whether the *metric* is better higher. Scores come from scikit-learn in
        greater-is-better sign; when this is False they are negated back to the
        metric's natural sign (``neg_root_mean_squared_error`` becomes the rmse).
        None infers it: from HIGHER_IS_BETTER for our names, False for
        scikit-learn names starting with ``neg_``, True otherwise.

    Returns
    -------
    dict
        ``sizes`` (training rows), ``train_mean``, ``train_std``, ``val_mean``,
        ``val_std`` (one value per size, in the metric's natural sign; None where
        every fold failed), ``baseline`` (the validation score of a dummy model,
        most frequent class / mean, on the same folds), ``higher_is_better`` and
        ``verdict`` ``{"kind", "text"}``.

    Notes
    -----
    The verdict reads scores in greater-is-better sign, rescaled so that the
    baseline is 0 and a perfect score 1 (perfect is 1 for greater-is-better
    metrics, 0 for negated errors; the scale falls back to 1 when the baseline
    is already perfect). With ``t`` and ``v`` the train and validation scores
    at the largest size, ``gap = t - v`` and ``gain`` the rise of the
    validation score over the last two sizes (0.55 -> 1.0 by default):

    1. ``"underfitting"`` when ``t < UNDERFIT_SKILL`` (0.2), or
       ``v < UNDERFIT_SKILL`` with ``gap <= OVERFIT_GAP``: the model is little
       better than the dummy, even on the rows it was trained on.
    2. else, when ``gap > OVERFIT_GAP`` (0.2): ``"more_data"`` if
       ``gain >= MORE_DATA_GAIN`` (0.03) and ``gain >= GAP_CLOSING_SHARE * gap``
       (the validation curve is still closing the gap fast), otherwise
       ``"overfitting"``.
    3. else ``"more_data"`` if ``gain >= MORE_DATA_GAIN``, otherwise
       ``"good_fit"``.

    With fewer than two sizes or failed folds ``kind`` is None and ``text`` says
    why.
    """
    resolved, direction = _resolve_scoring(scoring, y, estimator)
    if higher_is_better is None:
        higher_is_better = (
            direction
            if direction is not None
            else not (isinstance(scoring, str) and scoring.startswith("neg_"))
        )
    classifier = is_classifier(estimator)
    splitter = check_cv(cv, y, classifier=classifier)
    sizes, train, val = learning_curve(
        estimator,
        X,
        y,
        train_sizes=np.asarray(train_sizes, dtype=float),
        cv=splitter,
        scoring=resolved,
        shuffle=True,
        random_state=random_state,
        error_score=np.nan,
    )
    dummy = (
        DummyClassifier(strategy="prior")
        if classifier
        else DummyRegressor(strategy="mean")
    )
    baseline = np.nanmean(
        cross_val_score(
            clone(dummy), X, y, cv=splitter, scoring=resolved, error_score=np.nan
        )
    )
    sign = 1.0 if higher_is_better else -1.0
    train_mean = _nanmean(train)
    val_mean = _nanmean(val)
    return {
        "sizes": [int(s) for s in sizes],
        "train_mean": [_num(sign * m) if m is not None else None for m in train_mean],
        "train_std": _nanstd(train),
        "val_mean": [_num(sign * m) if m is not None else None for m in val_mean],
        "val_std": _nanstd(val),
        "baseline": _num(sign * baseline),
        "higher_is_better": bool(higher_is_better),
        "verdict": _verdict(
            train_mean, val_mean, _num(baseline), perfect=1.0 if sign > 0 else 0.0
        ),
    }


def _nanmean(scores: np.ndarray) -> list[float | None]:
    out = []
    for row in scores:
        finite = row[np.isfinite(row)]
        out.append(float(finite.mean()) if len(finite) else None)
    return out


def _nanstd(scores: np.ndarray) -> list[float | None]:
    out = []
    for row in scores:
        finite = row[np.isfinite(row)]
        out.append(float(finite.std()) if len(finite) else None)
    return out


def _verdict(train, val, baseline, *, perfect: float) -> dict:
    if len(val) < 2 or train[-1] is None or val[-1] is None or None in val[-3:]:
        return {
            "kind": None,
            "text": "Not enough successful fits to read the learning curve.",
        }
    base = baseline if baseline is not None else min(val)
    scale = perfect - base if perfect - base > 1e-12 else 1.0
    skill_train = (train[-1] - base) / scale
    skill_val = (val[-1] - base) / scale
    gap = skill_train - skill_val
    gain = (val[-1] - val[max(0, len(val) - 3)]) / scale
    if skill_train < UNDERFIT_SKILL or (
        skill_val < UNDERFIT_SKILL and gap <= OVERFIT_GAP
    ):
        return {
            "kind": "underfitting",
            "text": "Under-fitting: the model does little better than a model that "
            "always predicts the most common class or the average, even on the "
            "rows it learned from. Try a more flexible model, weaker "
            "regularisation or more informative features.",
        }
    if gap > OVERFIT_GAP:
        if gain >= MORE_DATA_GAIN and gain >= GAP_CLOSING_SHARE * gap:
            return _more_data()
        return {
            "kind": "overfitting",
            "text": "Over-fitting: the model scores much better on the rows it "
            "learned from than on rows it has not seen, and more rows barely "
            "narrow the gap. Try a simpler model, stronger regularisation "
            "(e.g. a shallower tree) or fewer features.",
        }
    if gain >= MORE_DATA_GAIN:
        return _more_data()
    return {
        "kind": "good_fit",
        "text": "Good fit: training and validation scores are close and the "
        "validation score has levelled off, so more rows of the same kind are "
        "unlikely to help much.",
    }


def _more_data() -> dict:
    return {
        "kind": "more_data",
        "text": "More data would help: the validation score is still rising as "
        "the training set grows, so more labelled rows are likely to improve "
        "the model.",
    }
