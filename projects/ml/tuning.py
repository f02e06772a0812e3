"""Hyperparameter tuning: search spaces, strategies, and one trial's score.

A search space is data a user writes (form or JSON), one entry per catalog
parameter::

    {
      "C":      {"type": "float", "low": 0.01, "high": 100, "log": true},
      "kernel": {"type": "choice", "choices": ["rbf", "poly"]},
      "degree": {"type": "int", "low": 2, "high": 5, "when": {"kernel": "poly"}}
    }

``when`` makes a parameter conditional: it is only searched when another
(choice) parameter of the space takes one of the given values; otherwise the
algorithm's default applies. Numbers may carry ``steps`` (grid points for the grid
strategy, default 4, spaced on a log scale when ``log``).

Strategies are Optuna samplers and pruners:

- ``grid``: every combination (``GridSampler``), at most ``MAX_GRID`` of them;
- ``random``: ``RandomSampler``;
- ``bayesian``: ``TPESampler`` with a ``MedianPruner`` on the running CV mean;
- ``halving``: successive halving, ``RandomSampler`` with a
  ``SuccessiveHalvingPruner`` whose resource is the number of CV folds scored.

The study's state lives in Optuna's storage (the caller passes it), so trials can
run in any process. This module never imports Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import optuna
import pandas as pd

from projects.ml.catalog import (
    Param,
    algorithm_get,
    check_param_value,
    validate_params,
)
from projects.ml.errors import SpecError
from projects.ml.metrics import HIGHER_IS_BETTER
from projects.ml.training import build_pipeline, cross_validate, split_xy

__all__ = [
    "MAX_GRID",
    "PRUNING_STRATEGIES",
    "STRATEGIES",
    "TrialPruned",
    "default_search_space",
    "default_trial_params",
    "fold_values",
    "gain_over",
    "grid_points",
    "make_pruner",
    "make_sampler",
    "score_params",
    "suggest_params",
    "validate_search_space",
]

STRATEGIES = ("grid", "random", "bayesian", "halving")
# The strategies whose pruner stops bad trials from their per-fold scores.
PRUNING_STRATEGIES = ("bayesian", "halving")
MAX_GRID = 1_000
DEFAULT_STEPS = 4
TrialPruned = optuna.TrialPruned

# Tuning ranges narrower than the catalog's limits, where experience says the
# good values live. Parameters not listed are not searched by default.
_F = "float"
_I = "int"
_C = "choice"
_FOREST = {
    "n_estimators": {"type": _I, "low": 50, "high": 500, "log": True},
    "max_depth": {"type": _I, "low": 3, "high": 30},
    "min_samples_leaf": {"type": _I, "low": 1, "high": 20, "log": True},
    "max_features": {"type": _C, "choices": ["sqrt", "log2", "all"]},
}
_BOOSTING = {
    "n_estimators": {"type": _I, "low": 50, "high": 500, "log": True},
    "learning_rate": {"type": _F, "low": 0.01, "high": 0.3, "log": True},
    "max_depth": {"type": _I, "low": 2, "high": 8},
    "subsample": {"type": _F, "low": 0.5, "high": 1.0},
}
# Small trees with many rounds win on additive targets (B5's regression task: 3
# leaves and 700 rounds beat the best of 8 leaves and 500 by 5% RMSE).
_HGB = {
    "learning_rate": {"type": _F, "low": 0.01, "high": 0.3, "log": True},
    "max_iter": {"type": _I, "low": 50, "high": 1000, "log": True},
    "max_leaf_nodes": {"type": _I, "low": 3, "high": 128, "log": True},
    "l2_regularization": {"type": _F, "low": 0.0, "high": 10.0},
}
_KNN = {
    "n_neighbors": {"type": _I, "low": 1, "high": 50, "log": True},
    "weights": {"type": _C, "choices": ["uniform", "distance"]},
}
_MLP = {
    "hidden_units": {"type": _I, "low": 16, "high": 256, "log": True},
    "hidden_layers": {"type": _I, "low": 1, "high": 3},
    "alpha": {"type": _F, "low": 1e-6, "high": 1e-1, "log": True},
}
_SVM = {
    "C": {"type": _F, "low": 0.01, "high": 1000.0, "log": True},
    "kernel": {"type": _C, "choices": ["rbf", "linear", "poly"]},
    "degree": {"type": _I, "low": 2, "high": 5, "when": {"kernel": ["poly"]}},
}
_CLUSTERS = {"n_clusters": {"type": _I, "low": 2, "high": 12}}
DEFAULT_SPACES: dict[str, dict[str, dict[str, dict]]] = {
    "classification": {
        "logistic_regression": {
            "C": {"type": _F, "low": 1e-3, "high": 1e3, "log": True},
            "class_weight": {"type": _C, "choices": ["none", "balanced"]},
        },
        "decision_tree": {
            "max_depth": {"type": _I, "low": 2, "high": 20},
            "min_samples_leaf": {"type": _I, "low": 1, "high": 50, "log": True},
        },
        "random_forest": _FOREST,
        "extra_trees": _FOREST,
        "gradient_boosting": _BOOSTING,
        "hist_gradient_boosting": _HGB,
        "knn": _KNN,
        "svm": {**_SVM, "class_weight": {"type": _C, "choices": ["none", "balanced"]}},
        "naive_bayes": {
            "var_smoothing": {"type": _F, "low": 1e-12, "high": 1e-3, "log": True}
        },
        "mlp": _MLP,
    },
    "regression": {
        "ridge": {"alpha": {"type": _F, "low": 1e-3, "high": 1e3, "log": True}},
        "lasso": {"alpha": {"type": _F, "low": 1e-4, "high": 10.0, "log": True}},
        "elastic_net": {
            "alpha": {"type": _F, "low": 1e-4, "high": 10.0, "log": True},
            "l1_ratio": {"type": _F, "low": 0.0, "high": 1.0},
        },
        "random_forest": _FOREST,
        "extra_trees": _FOREST,
        "gradient_boosting": _BOOSTING,
        "hist_gradient_boosting": _HGB,
        "knn": _KNN,
        "svr": {
            "C": {"type": _F, "low": 0.01, "high": 1000.0, "log": True},
            "epsilon": {"type": _F, "low": 0.01, "high": 1.0, "log": True},
            "kernel": {"type": _C, "choices": ["rbf", "linear", "poly"]},
        },
        "mlp": _MLP,
    },
    "clustering": {
        "kmeans": _CLUSTERS,
        "minibatch_kmeans": _CLUSTERS,
        "agglomerative": {
            **_CLUSTERS,
            "linkage": {"type": _C, "choices": ["ward", "complete", "average"]},
        },
        "gaussian_mixture": {
            **_CLUSTERS,
            "covariance_type": {"type": _C, "choices": ["full", "diag", "spherical"]},
        },
        "dbscan": {
            "eps": {"type": _F, "low": 0.05, "high": 10.0, "log": True},
            "min_samples": {"type": _I, "low": 2, "high": 50, "log": True},
        },
    },
}


def default_search_space(task_type: str, algorithm: str) -> dict:
    """The proposed space for an algorithm (empty when it has nothing to tune)."""
    algorithm_get(task_type, algorithm)
    space = DEFAULT_SPACES.get(task_type, {}).get(algorithm, {})
    return {name: dict(spec) for name, spec in space.items()}


def _err(field: str, message: str) -> SpecError:
    return SpecError(f"{field}: {message}", field=field)


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _err(field, "give a number.")
    if not math.isfinite(value):
        raise _err(field, "give a finite number.")
    return value


def _check_entry(param: Param, spec: Any, field: str) -> dict:
    if not isinstance(spec, dict):
        raise _err(field, 'give an object such as {"type": "int", ...}.')
    kind = spec.get("type")
    # A number may also be searched over a list of values.
    allowed = {param.kind, "choice"} if param.kind in ("int", "float") else {"choice"}
    if kind not in allowed:
        raise _err(
            f"{field}.type",
            f"{param.name} takes {' or '.join(sorted(allowed))} (got {kind!r}).",
        )
    known = {"type", "low", "high", "log", "choices", "steps", "when"}
    extra = sorted(set(spec) - known)
    if extra:
        raise _err(f"{field}.{extra[0]}", f"unknown field {extra[0]!r}.")
    out: dict[str, Any] = {"type": kind}
    if kind == "choice":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _err(f"{field}.choices", "give a non-empty list of values.")
        checked = []
        for i, value in enumerate(choices):
            checked.append(check_param_value(param, value, f"{field}.choices.{i}"))
        if len(set(map(repr, checked))) != len(checked):
            raise _err(f"{field}.choices", "the values repeat.")
        out["choices"] = checked
    else:
        low = _number(spec.get("low"), f"{field}.low")
        high = _number(spec.get("high"), f"{field}.high")
        if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
            raise _err(f"{field}.low", "give whole numbers for an integer range.")
        if low > high:
            raise _err(f"{field}.high", f"must be at least low ({low:g}).")
        for name, value in (("low", low), ("high", high)):
            if (param.low is not None and value < param.low) or (
                param.high is not None and value > param.high
            ):
                raise _err(
                    f"{field}.{name}",
                    f"{param.name} must stay between {param.low:g} and {param.high:g}.",
                )
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise _err(f"{field}.log", "give true or false.")
        if log and low <= 0:
            raise _err(f"{field}.low", "a log scale needs a low above 0.")
        steps = spec.get("steps", DEFAULT_STEPS)
        whole = isinstance(steps, int) and not isinstance(steps, bool)
        if not whole or not 2 <= steps <= 50:
            raise _err(f"{field}.steps", "give a whole number of grid points, 2-50.")
        if kind == "int":
            low, high = int(low), int(high)
        else:
            low, high = float(low), float(high)
        out.update(low=low, high=high, log=log, steps=steps)
    return out


def validate_search_space(
    task_type: str, algorithm: str, space: Any, *, strategy: str = "random"
) -> dict:
    """Check a search space against the catalog entry; refuse an empty one.

    Raises
    ------
    SpecError
        Naming ``search_space.<param>.<field>`` (or ``search_space`` itself, or
        ``strategy``).
    """
    if strategy not in STRATEGIES:
        raise _err("strategy", f"choose one of: {', '.join(STRATEGIES)}.")
    entry = algorithm_get(task_type, algorithm)
    if space is None:
        space = default_search_space(task_type, algorithm)
    if not isinstance(space, dict):
        raise _err("search_space", "give an object of parameter: range.")
    if not space:
        raise _err(
            "search_space",
            f"{entry.label} has nothing to tune"
            if not entry.params
            else "the search space is empty: give at least one parameter.",
        )
    params = {p.name: p for p in entry.params}
    out: dict[str, dict] = {}
    for name, spec in space.items():
        field = f"search_space.{name}"
        if name not in params:
            allowed = ", ".join(params) or "none"
            raise _err(field, f"{entry.label} has no parameter {name!r} ({allowed}).")
        out[name] = _check_entry(params[name], spec, field)
    for name, spec in space.items():
        when = spec.get("when") if isinstance(spec, dict) else None
        if when is None:
            continue
        field = f"search_space.{name}.when"
        if not isinstance(when, dict) or len(when) != 1:
            raise _err(field, 'give one condition, e.g. {"kernel": ["poly"]}.')
        ((other, values),) = when.items()
        if other not in out or out[other]["type"] != "choice" or other == name:
            raise _err(field, f"{other!r} must be another choice parameter here.")
        values = values if isinstance(values, list) else [values]
        wrong = [v for v in values if v not in out[other]["choices"]]
        if not values or wrong:
            raise _err(
                field,
                f"{other} can be {', '.join(map(repr, out[other]['choices']))}.",
            )
        out[name]["when"] = {other: values}
    if strategy == "grid":
        size = math.prod(len(v) for v in grid_points(out).values())
        if size > MAX_GRID:
            raise _err(
                "search_space",
                f"the grid has {size:,} combinations; at most {MAX_GRID:,}. Use fewer "
                "steps or choices, or the random or Bayesian strategy.",
            )
    return out


def grid_points(space: dict) -> dict[str, list]:
    """The values the grid strategy tries per parameter."""
    points: dict[str, list] = {}
    for name, spec in space.items():
        if spec["type"] == "choice":
            points[name] = list(spec["choices"])
            continue
        low, high, steps = spec["low"], spec["high"], spec["steps"]
        if spec["log"]:
            values = np.geomspace(low, high, steps)
        else:
            values = np.linspace(low, high, steps)
        if spec["type"] == "int":
            values = sorted({round(float(v)) for v in values})
        else:
            values = [float(v) for v in values]
        points[name] = list(values)
    return points


def default_trial_params(task_type: str, algorithm: str, space: dict) -> dict:
    """The algorithm's catalog defaults, for the parameters of a (validated)
    space whose default lies inside their range or among their choices.

    A study tries these first, so it starts from the model a user would train
    without tuning (FLAML and Azure AutoML start from defaults too). A parameter
    whose default lies outside the space, or whose condition (``when``) the
    defaults do not meet, is left to the sampler.
    """
    defaults = {p.name: p.default for p in algorithm_get(task_type, algorithm).params}
    chosen: dict[str, Any] = {}
    for name in sorted(space, key=lambda n: "when" in space[n]):
        spec, value = space[name], defaults.get(name)
        when = spec.get("when")
        if when:
            ((other, values),) = when.items()
            if other not in chosen or chosen[other] not in values:
                continue
        if spec["type"] == "choice":
            inside = value in spec["choices"]
        else:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            inside = number and spec["low"] <= value <= spec["high"]
        if inside:
            chosen[name] = value
    return chosen


def fold_values(running_means: list[float]) -> list[float]:
    """Each fold's score from the running mean after each fold (what a trial
    records for the pruner)."""
    values: list[float] = []
    previous = 0.0
    for k, mean in enumerate(running_means, start=1):
        values.append(k * mean - (k - 1) * previous)
        previous = mean
    return values


def gain_over(
    best: list[float], base: list[float], *, higher_is_better: bool
) -> tuple[float, float]:
    """How much ``best`` beats ``base`` on the same folds, and how sure that is.

    Returns
    -------
    (gain, se)
        The mean per-fold difference in the metric's direction (positive: better)
        and its standard error (sample standard deviation over the square root of
        the fold count; infinite with one fold). Paired by fold, so the folds'
        own difficulty cancels out.
    """
    if len(best) != len(base) or not best:
        raise ValueError("both need scores on the same folds")
    diff = np.asarray(best, dtype=float) - np.asarray(base, dtype=float)
    if not higher_is_better:
        diff = -diff
    if len(diff) < 2:
        return float(diff.mean()), math.inf
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))


def grid_size(space: dict) -> int:
    return math.prod(len(v) for v in grid_points(space).values())


def suggest_params(trial: optuna.Trial, space: dict) -> dict:
    """The trial's parameter values (conditional ones only when their condition
    holds; the others keep the algorithm's default)."""
    chosen: dict[str, Any] = {}
    ordered = sorted(space, key=lambda n: "when" in space[n])
    for name in ordered:
        spec = space[name]
        when = spec.get("when")
        if when:
            ((other, values),) = when.items()
            if chosen.get(other) not in values:
                continue
        if spec["type"] == "choice":
            # Optuna stores choices as given; None is represented by "none".
            chosen[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["type"] == "int":
            chosen[name] = trial.suggest_int(
                name, spec["low"], spec["high"], log=spec["log"]
            )
        else:
            chosen[name] = trial.suggest_float(
                name, spec["low"], spec["high"], log=spec["log"]
            )
    return chosen


class _Grid(optuna.samplers.GridSampler):
    """Optuna's grid without its ``study.stop()`` when the grid is used up (that
    only works inside ``optimize``); the budget, the grid size, ends the study."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


def make_sampler(
    strategy: str, space: dict, *, seed: int
) -> optuna.samplers.BaseSampler:
    if strategy == "grid":
        return _Grid(grid_points(space), seed=seed)
    if strategy == "bayesian":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=8, multivariate=True, constant_liar=True
        )
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(strategy: str) -> optuna.pruners.BasePruner:
    """The strategy's pruner (``NopPruner`` outside ``PRUNING_STRATEGIES``)."""
    if strategy == "bayesian":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if strategy == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3
        )
    return optuna.pruners.NopPruner()


def direction(metric: str) -> str:
    return "maximize" if HIGHER_IS_BETTER.get(metric, True) else "minimize"


def score_params(
    train: pd.DataFrame,
    *,
    target: str | None,
    task_type: str,
    feature_spec: dict,
    algorithm: str,
    params: dict,
    metric: str,
    cv_folds: int = 5,
    random_state: int = 0,
    fold_seed: int | None = None,
    only_folds: Collection[int] | None = None,
    on_fold: Callable[[int, float], bool] | None = None,
) -> tuple[float, dict]:
    """Cross-validated score of one parameter set on the training split.

    ``random_state`` seeds the model and the folds; ``fold_seed``, when given,
    seeds the folds instead (the same model on other folds); ``only_folds``
    scores only those folds (0-based) of that split.
    ``on_fold(folds_done, running_mean)`` is called after each fold; when it
    returns True the trial is pruned (:class:`TrialPruned` is raised).

    Returns
    -------
    (score, cv)
        The mean of ``metric`` over the folds and the full CV summary.
    """
    full = validate_params(task_type, algorithm, params)
    X, y = split_xy(train, target=target, task_type=task_type)
    pipeline = build_pipeline(
        task_type=task_type,
        feature_spec=feature_spec,
        algorithm=algorithm,
        params=full,
        random_state=random_state,
    )

    def fold_done(done: int, _folds: int, per_fold: dict) -> None:
        values = [v for v in per_fold[metric] if v is not None]
        if on_fold is not None and values and on_fold(done, float(np.mean(values))):
            raise TrialPruned(f"pruned after {done} fold(s)")

    cv, folds, _notes = cross_validate(
        pipeline,
        X,
        y,
        task_type=task_type,
        metrics=(metric,),
        cv_folds=max(cv_folds, 2),
        random_state=random_state if fold_seed is None else fold_seed,
        on_fold=fold_done,
        only_folds=only_folds,
    )
    if not folds or cv[metric]["mean"] is None:
        raise ValueError(f"{metric} could not be computed for these parameters.")
    return float(cv[metric]["mean"]), cv
