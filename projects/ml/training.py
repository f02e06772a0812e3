"""Training one candidate: cross-validation, a final fit, metrics, timings.

The model is always a :class:`~sklearn.pipeline.Pipeline` of the compiled feature
spec (:func:`projects.ml.features.compile_features`) and the catalog estimator, so
the fitted preprocessing travels with the model and serving applies exactly what
training did. Everything is fitted on the training split only; the validation
split is scored, never fitted on.

Pure pandas + scikit-learn: never imports Django.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from projects.ml.catalog import algorithm_get, validate_params
from projects.ml.features import compile_features
from projects.ml.metrics import BY_TASK, compute_metrics

__all__ = [
    "Scored",
    "TrainingResult",
    "build_pipeline",
    "cross_validate",
    "score_split",
    "split_xy",
    "train_model",
]

# Rows a latency measurement predicts at once, and single-row calls timed.
LATENCY_BATCH = 1_000
LATENCY_SINGLE_CALLS = 7
# At most this many rows are scored for the training-split metrics (a seeded
# sample above it): they show over-fitting, they need no more precision.
TRAIN_SCORE_ROWS = 100_000

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Scored:
    """Metrics of one split, with what produced them (for the dashboards)."""

    metrics: dict[str, float | None]
    y_true: np.ndarray | None
    y_pred: np.ndarray
    proba: np.ndarray | None = None
    # Clustering: the transformed features the labels were scored on.
    X_transformed: Any = None


@dataclass(frozen=True)
class TrainingResult:
    """What :func:`train_model` learned and measured."""

    pipeline: Pipeline
    cv: dict[str, dict]
    cv_folds: int
    train: dict[str, float | None]
    validation: dict[str, float | None] | None
    validation_scored: Scored | None
    # The training split as scored (clustering algorithms that cannot assign new
    # rows are evaluated on it).
    train_scored: Scored
    fit_seconds: float
    predict_ms_per_row: float | None
    predict_ms_single: float | None
    n_train_rows: int
    n_fit_rows: int
    n_validation_rows: int
    classes: list | None
    input_columns: list[dict]
    feature_names: list[str]
    warnings: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def target_array(y: pd.Series, task_type: str) -> np.ndarray:
    """The target as a numpy array scikit-learn handles (no pandas NA types)."""
    if task_type == "regression":
        return y.to_numpy(dtype="float64")
    if pd.api.types.is_bool_dtype(y.dtype):
        return y.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(y.dtype):
        return y.to_numpy(dtype="int64")
    if pd.api.types.is_float_dtype(y.dtype):
        values = y.to_numpy(dtype="float64")
        if np.all(np.mod(values, 1) == 0):
            return values.astype("int64")
        return values
    return y.astype(str).to_numpy(dtype=object)


def split_xy(
    frame: pd.DataFrame, *, target: str | None, task_type: str
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Features and target of one split; rows without a target are left out."""
    if task_type == "clustering" or not target:
        return frame, None
    frame = frame[frame[target].notna()]
    return frame.drop(columns=[target]), target_array(frame[target], task_type)


def build_pipeline(
    *,
    task_type: str,
    feature_spec: dict,
    algorithm: str,
    params: dict,
    random_state: int = 0,
) -> Pipeline:
    """The unfitted Pipeline: compiled features, then the catalog estimator."""
    entry = algorithm_get(task_type, algorithm)
    full = validate_params(task_type, algorithm, params)
    features = compile_features(
        feature_spec,
        task_type=task_type,
        random_state=random_state,
        sparse_threshold=0.0 if entry.dense else 0.3,
    )
    return Pipeline(
        [("features", features), ("model", entry.build(full, random_state))]
    )


def _predicts(pipeline: Pipeline) -> bool:
    return hasattr(pipeline[-1], "predict")


def score_split(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray | None,
    *,
    task_type: str,
    metrics: Any = None,
    labels: np.ndarray | None = None,
    random_state: int = 0,
) -> Scored:
    """Metrics of a fitted pipeline on one split.

    For clustering, ``labels`` may give the labels found while fitting (for
    algorithms that cannot assign new rows); otherwise the pipeline predicts.
    """
    if task_type == "clustering":
        Xt = pipeline[:-1].transform(X)
        if labels is None:
            labels = pipeline[-1].predict(Xt)
        values = compute_metrics(
            "clustering",
            y_pred=labels,
            X=Xt,
            metrics=metrics,
            random_state=random_state,
        )
        return Scored(values, None, np.asarray(labels), X_transformed=Xt)
    y_pred = pipeline.predict(X)
    proba = None
    classes = None
    if task_type == "classification":
        classes = list(pipeline.classes_)
        if hasattr(pipeline, "predict_proba"):
            proba = pipeline.predict_proba(X)
    values = compute_metrics(
        task_type, y, y_pred, proba=proba, classes=classes, metrics=metrics
    )
    return Scored(values, y, np.asarray(y_pred), proba)


def _splitter(task_type: str, y: np.ndarray | None, folds: int, rs: int):
    """The CV splitter and the number of folds it can really make."""
    if task_type == "classification":
        _, counts = np.unique(y, return_counts=True)
        folds = min(folds, int(counts.min()))
        if folds < 2:
            return None, 0
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=rs), folds
    return KFold(n_splits=folds, shuffle=True, random_state=rs), folds


def _summary(values: list[float | None]) -> dict:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "folds": values}
    return {
        "mean": float(np.mean(finite)),
        "std": float(np.std(finite)),
        "folds": values,
    }


def _fit(pipeline: Pipeline, X, y, caught: list[str], *, task_type: str):
    """Fit, collecting warnings; returns cluster labels when fit_predict is needed."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ConvergenceWarning)
        if task_type == "clustering" and not _predicts(pipeline):
            labels = pipeline.fit_predict(X)
        else:
            pipeline.fit(X, y)
            labels = None
    for w in seen:
        if issubclass(w.category, ConvergenceWarning | UserWarning):
            text = str(w.message).splitlines()[0][:300]
            if text not in caught:
                caught.append(text)
    return labels


def _latency(pipeline: Pipeline, X: pd.DataFrame) -> tuple[float | None, float | None]:
    """Milliseconds per row on a batch, and the median single-row call."""
    if not len(X) or not _predicts(pipeline):
        return None, None
    batch = X.iloc[:LATENCY_BATCH]
    started = time.perf_counter()
    pipeline.predict(batch)
    per_row = (time.perf_counter() - started) * 1000 / len(batch)
    single = []
    for i in range(min(LATENCY_SINGLE_CALLS, len(X))):
        row = X.iloc[i : i + 1]
        started = time.perf_counter()
        pipeline.predict(row)
        single.append((time.perf_counter() - started) * 1000)
    return per_row, float(np.median(single))


def cross_validate(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray | None,
    *,
    task_type: str,
    metrics: tuple[str, ...],
    cv_folds: int,
    random_state: int = 0,
    caught: list[str] | None = None,
    on_fold: Callable[[int, int, dict], None] | None = None,
    only_folds: Collection[int] | None = None,
) -> tuple[dict[str, dict], int, list[str]]:
    """k-fold cross-validation of an unfitted pipeline on one split.

    Stratified for classification (fewer folds when the smallest class is
    smaller than ``cv_folds``; none when a class has one row), shuffled with
    ``random_state``. ``on_fold(done, folds, per_fold)`` is called after each
    fold with every metric's values so far; it may raise to stop (a cancel, or
    a tuning trial pruned). ``only_folds`` scores only those folds (0-based) of
    the same split, so the folds of one CV can be shared out among processes.

    Returns
    -------
    (cv, folds, notes)
        ``cv`` maps each metric to ``{"mean", "std", "folds"}`` (empty without
        cross-validation), ``folds`` is the number of folds used and ``notes``
        says why it differs from ``cv_folds``.
    """
    caught = [] if caught is None else caught
    notes: list[str] = []
    if cv_folds < 2:
        return {}, 0, notes
    splitter, folds = _splitter(task_type, y, cv_folds, random_state)
    if folds < cv_folds:
        notes.append(
            f"Cross-validation uses {folds} folds instead of {cv_folds}: the "
            "smallest class has too few rows."
            if folds
            else "No cross-validation: a class has a single training row."
        )
    if splitter is None:
        return {}, 0, notes
    per_fold: dict[str, list[float | None]] = {m: [] for m in metrics}
    done = 0
    for i, (fit_idx, val_idx) in enumerate(splitter.split(X, y)):
        if only_folds is not None and i not in only_folds:
            continue
        fold = clone(pipeline)
        y_fit = None if y is None else y[fit_idx]
        labels = _fit(fold, X.iloc[fit_idx], y_fit, caught, task_type=task_type)
        if task_type == "clustering" and labels is not None:
            # Cannot assign held-out rows: score the fold's own clustering.
            scored = score_split(
                fold,
                X.iloc[fit_idx],
                None,
                task_type=task_type,
                metrics=metrics,
                labels=labels,
                random_state=random_state,
            )
        else:
            scored = score_split(
                fold,
                X.iloc[val_idx],
                None if y is None else y[val_idx],
                task_type=task_type,
                metrics=metrics,
                random_state=random_state,
            )
        for m in metrics:
            per_fold[m].append(scored.metrics.get(m))
        done += 1
        if on_fold is not None:
            on_fold(done, folds, per_fold)
    return {m: _summary(v) for m, v in per_fold.items()}, folds, notes


def train_model(
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    *,
    target: str | None,
    task_type: str,
    feature_spec: dict,
    algorithm: str,
    params: dict | None = None,
    metrics: Any = None,
    cv_folds: int = 5,
    random_state: int = 0,
    progress: ProgressFn | None = None,
) -> TrainingResult:
    """Cross-validate on the training split, fit on all of it, score both splits.

    Parameters
    ----------
    train, validation : DataFrame
        The splits as stored (features and target); ``validation`` may be None.
    target : str or None
        The target column (None for clustering).
    task_type : {"classification", "regression", "clustering"}
    feature_spec : dict
        A validated feature spec.
    algorithm : str
        A catalog key; ``params`` are checked with
        :func:`projects.ml.catalog.validate_params`.
    metrics : iterable of str, optional
        Metrics to compute; all of the task's by default.
    cv_folds : int, default=5
        Folds of the cross-validation (stratified for classification, fewer when
        the smallest class is smaller; none when a class has a single row). 0 or
        1 skips cross-validation.
    random_state : int, default=0
        Seeds the folds, the sample of over-large data and the estimator.
    progress : callable(done, total, message), optional
        Called after each fold and phase; may raise to cancel.

    Returns
    -------
    TrainingResult
    """
    entry = algorithm_get(task_type, algorithm)
    full_params = validate_params(task_type, algorithm, params)
    metrics = tuple(metrics) if metrics is not None else BY_TASK[task_type]
    log: list[str] = []
    caught: list[str] = []
    X, y = split_xy(train, target=target, task_type=task_type)
    n_train = len(X)
    if n_train < 2:
        raise ValueError("The training split has fewer than 2 usable rows.")
    if entry.max_rows is not None and n_train > entry.max_rows:
        picked = np.sort(
            np.random.default_rng(random_state).choice(
                n_train, size=entry.max_rows, replace=False
            )
        )
        X = X.iloc[picked]
        y = None if y is None else y[picked]
        log.append(
            f"{entry.label} is trained on a seeded sample of {entry.max_rows:,} of "
            f"the {n_train:,} training rows (it slows down sharply with rows)."
        )
    pipeline = build_pipeline(
        task_type=task_type,
        feature_spec=feature_spec,
        algorithm=algorithm,
        params=full_params,
        random_state=random_state,
    )
    report = progress or (lambda done, total, message: None)
    planned = cv_folds if cv_folds >= 2 else 0

    def on_fold(done: int, folds: int, _per_fold: dict) -> None:
        report(done, folds + 2, f"Cross-validation: fold {done} of {folds} done")

    cv, folds, notes = cross_validate(
        pipeline,
        X,
        y,
        task_type=task_type,
        metrics=metrics,
        cv_folds=planned,
        random_state=random_state,
        caught=caught,
        on_fold=on_fold,
    )
    log.extend(notes)
    total = folds + 2

    started = time.perf_counter()
    labels = _fit(pipeline, X, y, caught, task_type=task_type)
    fit_seconds = time.perf_counter() - started
    report(folds + 1, total, "Fitted on the whole training split; scoring")

    if len(X) > TRAIN_SCORE_ROWS and labels is None:
        rows = np.sort(
            np.random.default_rng(random_state).choice(
                len(X), size=TRAIN_SCORE_ROWS, replace=False
            )
        )
        X_score, y_score = X.iloc[rows], None if y is None else y[rows]
    else:
        X_score, y_score = X, y
    train_scored = score_split(
        pipeline,
        X_score,
        y_score,
        task_type=task_type,
        metrics=metrics,
        labels=labels,
        random_state=random_state,
    )
    validation_scored = None
    n_validation = 0
    Xv = None
    if validation is not None and len(validation):
        Xv, yv = split_xy(validation, target=target, task_type=task_type)
        n_validation = len(Xv)
        if n_validation and (task_type != "clustering" or _predicts(pipeline)):
            validation_scored = score_split(
                pipeline,
                Xv,
                yv,
                task_type=task_type,
                metrics=metrics,
                random_state=random_state,
            )
    per_row, single = _latency(pipeline, Xv if Xv is not None and len(Xv) else X)
    report(total, total, "Scored")
    for text in caught:
        log.append(f"Warning: {text}")
    try:
        names = [str(n) for n in pipeline[:-1].get_feature_names_out()]
    except (AttributeError, ValueError):
        names = []
    classes = (
        [c.item() if hasattr(c, "item") else c for c in pipeline.classes_]
        if task_type == "classification"
        else None
    )
    return TrainingResult(
        pipeline=pipeline,
        cv=cv,
        cv_folds=folds,
        train=train_scored.metrics,
        validation=None if validation_scored is None else validation_scored.metrics,
        validation_scored=validation_scored,
        train_scored=train_scored,
        fit_seconds=fit_seconds,
        predict_ms_per_row=per_row,
        predict_ms_single=single,
        n_train_rows=n_train,
        n_fit_rows=len(X),
        n_validation_rows=n_validation,
        classes=classes,
        input_columns=[{"name": str(c), "dtype": str(X[c].dtype)} for c in X.columns],
        feature_names=names,
        warnings=caught,
        log=log,
    )
