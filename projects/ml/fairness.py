"""Fairness by group for step 7: the metric, selection rate and parity differences.

The sensitive attributes (chosen on step 1) need not be model inputs: the caller
passes their values for the evaluated rows separately. Every result is a plain
JSON-serialisable dict (None in place of NaN).

Definitions, the same as fairlearn's (``fairlearn.metrics``, not a dependency):

- selection rate of a group: the share of its rows predicted as the positive
  label (``selection_rate``);
- true positive rate: among a group's rows whose true label is positive, the share
  predicted positive (``true_positive_rate``);
- ``demographic_parity_difference``: the largest minus the smallest selection
  rate over the groups, i.e.
  ``demographic_parity_difference(y_true, y_pred, sensitive_features=g)``
  (``method="between_groups"``);
- ``equal_opportunity_difference``: the largest minus the smallest true positive
  rate, i.e. ``MetricFrame(metrics=true_positive_rate, ...).difference()``
  (one half of fairlearn's ``equalized_odds_difference``, which also takes the
  false positive rate); groups without a true positive row have no rate and are
  left out;
- ``metric_difference``: the largest minus the smallest metric value over the
  groups (``MetricFrame(metrics=..., ...).difference()``).

Pure numpy + pandas: never imports Django.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from projects.ml.metrics import BY_TASK, HIGHER_IS_BETTER, compute_metrics
from projects.ml.metrics import positive_label as default_positive_label

__all__ = ["DEFAULT_BOUND", "MISSING_GROUP", "fairness_report"]

DEFAULT_BOUND = 0.1
MISSING_GROUP = "(missing)"
# Error metrics of regression are in target units; they are compared to the bound
# as a share of the overall value.
_RELATIVE = frozenset({"rmse", "mae", "mape"})


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value + 0.0 if math.isfinite(value) else None


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _group_labels(values: Any, n: int, name: str) -> np.ndarray:
    series = pd.Series(values).reset_index(drop=True)
    if len(series) != n:
        raise ValueError(
            f"Sensitive attribute {name!r} has {len(series)} values for {n} rows"
        )
    missing = series.isna().to_numpy()
    return series.astype(object).where(~missing, MISSING_GROUP).map(str).to_numpy()


def _matches(values: np.ndarray, label: Any) -> np.ndarray:
    """Rows equal to ``label``, also when one side is text ("1" and 1)."""
    text = np.asarray([str(v) for v in values.tolist()], dtype=object)
    return (values == label) | (text == str(label))


def fairness_report(
    y_true: Any,
    y_pred: Any,
    groups: Mapping[str, Any],
    *,
    task_type: str,
    positive_label: Any = None,
    metric: str,
    bound: float = DEFAULT_BOUND,
    min_group_rows: int = 1,
    proba: np.ndarray | None = None,
    classes: Any = None,
) -> dict[str, dict[str, Any]]:
    """Per sensitive attribute: the metric and selection rate per group, and gaps.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels (classification) or values (regression).
    groups : dict of str to array-like
        Attribute name to its values for the same rows (need not be model
        inputs). Missing values are the group ``"(missing)"``; values are
        compared as text.
    task_type : {"classification", "regression"}
    positive_label : optional
        The positive class of a binary task; by default
        :func:`projects.ml.metrics.positive_label` of the classes. Compared with
        the labels as is and as text, so ``"1"`` finds ``1``.
    metric : str
        The metric per group, a name of the task in compute_metrics (with its
        conventions: binary f1/precision/recall are for compute_metrics'
        positive class). ``roc_auc`` and ``log_loss`` need ``proba``.
    bound : float, default=0.1
        A difference above it flags the attribute.
    min_group_rows : int, default=1
        Groups with fewer rows are listed with ``"included": False`` and left
        out of the differences (too few rows to say anything).
    proba : ndarray of shape (n, n_classes), optional
        Class probabilities (columns in the order of ``classes``) for the
        score-based metrics.
    classes : array-like, optional
        The model's classes; by default the sorted union of both label arrays.

    Returns
    -------
    dict
        Attribute name to ``{"groups", "overall", "demographic_parity_difference",
        "equal_opportunity_difference", "metric_difference",
        "metric_relative_difference", "flagged", "reasons", "note", "metric",
        "bound"}``.

        ``groups`` is ``[{"group", "n", "metric", "selection_rate",
        "true_positive_rate", "mean_prediction", "included"}]``, largest group
        first. ``overall`` has the same keys for all rows.

        Binary classification: ``selection_rate`` and ``true_positive_rate`` as
        in the module docstring, the two parity differences over included
        groups; ``mean_prediction`` is None. Multiclass: the metric per group
        only; the selection rate, true positive rate and parity terms are None
        and ``note`` says why. Regression: the metric and the mean prediction
        per group, rates and parity terms None.

        ``metric_relative_difference`` is ``metric_difference`` divided by the
        overall value, given for the regression errors (rmse, mae, mape) which
        are in target units: for them this share, not the raw difference, is
        compared with ``bound``. ``flagged`` is True when a difference exceeds
        ``bound``; ``reasons`` says which, in plain words.
    """
    if task_type not in ("classification", "regression"):
        raise ValueError("Fairness is reported for classification and regression.")
    if metric not in BY_TASK[task_type]:
        raise ValueError(f"{metric!r} is not a {task_type} metric")
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    n = len(y_true)
    if len(y_pred) != n:
        raise ValueError("y_true and y_pred have different lengths")
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
    if task_type == "classification":
        if classes is None:
            classes = sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=str)
        classes = [_native(c) for c in classes]
        binary = len(classes) <= 2
        if binary and positive_label is None:
            if len(classes) < 2:
                raise ValueError("Only one class is present: give positive_label.")
            positive_label = default_positive_label(classes)
    else:
        binary = False
    settings = {
        "task_type": task_type,
        "metric": metric,
        "classes": classes if task_type == "classification" else None,
        "binary": binary,
        "positive": positive_label,
    }
    overall = _group_stats(y_true, y_pred, proba, settings)
    return {
        str(name): _attribute(
            _group_labels(values, n, str(name)),
            y_true,
            y_pred,
            proba,
            settings,
            overall,
            bound=float(bound),
            min_group_rows=int(min_group_rows),
        )
        for name, values in groups.items()
    }


def _group_stats(y_true, y_pred, proba, settings) -> dict:
    task_type, metric = settings["task_type"], settings["metric"]
    n = len(y_true)
    value = None
    if n:
        value = compute_metrics(
            task_type,
            y_true,
            y_pred,
            proba=proba,
            classes=settings["classes"],
            metrics=[metric],
        )[metric]
    stats = {
        "n": n,
        "metric": value,
        "selection_rate": None,
        "true_positive_rate": None,
        "mean_prediction": None,
    }
    if task_type == "regression":
        stats["mean_prediction"] = _num(np.mean(y_pred.astype(float))) if n else None
    elif settings["binary"]:
        predicted = _matches(y_pred, settings["positive"])
        actual = _matches(y_true, settings["positive"])
        stats["selection_rate"] = _num(predicted.mean()) if n else None
        positives = actual.sum()
        stats["true_positive_rate"] = (
            _num((predicted & actual).sum() / positives) if positives else None
        )
    return stats


def _attribute(
    labels, y_true, y_pred, proba, settings, overall, *, bound, min_group_rows
) -> dict:
    names, counts = np.unique(labels, return_counts=True)
    pairs = zip(names.tolist(), counts.tolist(), strict=True)
    order = sorted(pairs, key=lambda p: (-p[1], p[0]))
    rows = []
    for name, _ in order:
        mask = labels == name
        stats = _group_stats(
            y_true[mask],
            y_pred[mask],
            None if proba is None else proba[mask],
            settings,
        )
        rows.append(
            {"group": name, **stats, "included": bool(mask.sum() >= min_group_rows)}
        )
    included = [r for r in rows if r["included"]]
    metric = settings["metric"]

    def spread(key: str) -> tuple[float | None, dict | None, dict | None]:
        known = [r for r in included if r[key] is not None]
        if len(known) < 2:
            return None, None, None
        low = min(known, key=lambda r: r[key])
        high = max(known, key=lambda r: r[key])
        return _num(high[key] - low[key]), high, low

    dpd, dp_high, dp_low = spread("selection_rate")
    eod, eo_high, eo_low = spread("true_positive_rate")
    md, m_high, m_low = spread("metric")
    relative = None
    if settings["task_type"] == "regression" and metric in _RELATIVE and md is not None:
        relative = _num(md / overall["metric"]) if overall["metric"] else None

    reasons = []
    if dpd is not None and dpd > bound:
        reasons.append(
            f"Selection rate (share predicted {settings['positive']}) differs by "
            f"{dpd:.2f} between {dp_high['group']!r} ({dp_high['selection_rate']:.2f})"
            f" and {dp_low['group']!r} ({dp_low['selection_rate']:.2f}), more than "
            f"the bound {bound:.2f} (demographic parity)."
        )
    if eod is not None and eod > bound:
        reasons.append(
            f"True positive rate differs by {eod:.2f} between {eo_high['group']!r} "
            f"({eo_high['true_positive_rate']:.2f}) and {eo_low['group']!r} "
            f"({eo_low['true_positive_rate']:.2f}), more than the bound {bound:.2f} "
            "(equal opportunity)."
        )
    compared = relative if metric in _RELATIVE else md
    if compared is not None and compared > bound:
        worse, better = (m_low, m_high) if HIGHER_IS_BETTER[metric] else (m_high, m_low)
        amount = f"{md:.3g}" + (f" ({relative:.0%} of overall)" if relative else "")
        reasons.append(
            f"{metric} differs by {amount} between {worse['group']!r} "
            f"({worse['metric']:.3g}, worse) and {better['group']!r} "
            f"({better['metric']:.3g}), more than the bound {bound:.2f}."
        )
    note = None
    if settings["task_type"] == "classification" and not settings["binary"]:
        note = (
            "Selection rate and the parity differences need a positive class; "
            "for a multiclass task only the metric per group is compared."
        )
    elif settings["task_type"] == "regression":
        note = (
            "Regression has no selection rate: the metric and the mean prediction "
            "per group are compared."
        )
    if len(included) < 2:
        note = "Fewer than two groups are large enough to compare."
    return {
        "groups": rows,
        "overall": {"group": "(all rows)", **overall, "included": True},
        "demographic_parity_difference": dpd,
        "equal_opportunity_difference": eod,
        "metric_difference": md,
        "metric_relative_difference": relative,
        "flagged": bool(reasons),
        "reasons": reasons,
        "note": note,
        "metric": metric,
        "bound": bound,
    }
