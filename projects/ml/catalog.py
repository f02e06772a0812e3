"""The model catalog: the algorithms a project can train, per task type.

Each entry says what it is, when it fits, the parameters a user may set (with
validated ranges, which also serve as the default search space for tuning) and
how to build the scikit-learn estimator. A baseline (a Dummy estimator) exists for
classification and regression and is always trained next to the candidates;
clustering has no meaningful dummy, so it has none.

Parameters are data a user writes (form or JSON): :func:`validate_params` checks
them and merges the defaults, raising :class:`~projects.ml.errors.SpecError` that
names ``params.<name>``.

Pure scikit-learn: never imports Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sklearn import (
    cluster,
    dummy,
    ensemble,
    linear_model,
    mixture,
    naive_bayes,
    neighbors,
    neural_network,
    svm,
    tree,
)

from projects.ml.errors import SpecError

__all__ = [
    "CATALOG",
    "Algorithm",
    "Param",
    "algorithm_get",
    "baseline_key",
    "build_estimator",
    "catalog_for",
    "check_param_value",
    "suggest_algorithms",
    "validate_params",
]


@dataclass(frozen=True)
class Param:
    """One parameter a user may set.

    ``kind`` is int, float, choice or bool; ``low``/``high`` bound numbers
    (inclusive) and ``log`` says the range is best searched on a log scale;
    ``nullable`` allows ``None`` (e.g. an unlimited tree depth).
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    nullable: bool = False

    def schema(self) -> dict:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "default": self.default,
            "help": self.help,
            "nullable": self.nullable,
        }
        if self.kind in ("int", "float"):
            out.update(min=self.low, max=self.high, log=self.log)
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        return out


@dataclass(frozen=True)
class Algorithm:
    """A catalog entry. ``build(params, random_state)`` returns the estimator."""

    key: str
    task: str
    label: str
    description: str
    fits: str
    build: Callable[[dict, int], Any]
    params: tuple[Param, ...] = ()
    # Needs dense input (the feature matrix is densified for it).
    dense: bool = False
    # Above this many training rows the model is fitted on a seeded sample of
    # that size (the reason is shown); None = no limit.
    max_rows: int | None = None
    baseline: bool = False
    # Clustering: can assign new rows to clusters (serving and validation).
    predicts_new_rows: bool = True

    def schema(self, *, n_rows: int | None = None) -> dict:
        note = ""
        if self.max_rows is not None and n_rows is not None and n_rows > self.max_rows:
            note = (
                f"{self.label} slows down sharply with rows: it will be trained on a "
                f"seeded sample of {self.max_rows:,} of the {n_rows:,} training rows."
            )
        return {
            "key": self.key,
            "label": self.label,
            "description": self.description,
            "fits": self.fits,
            "params": [p.schema() for p in self.params],
            "max_rows": self.max_rows,
            "baseline": self.baseline,
            "note": note,
        }


def _p(name: str, kind: str, default: Any, help: str, **kw: Any) -> Param:
    return Param(name=name, kind=kind, default=default, help=help, **kw)


_CLASS_WEIGHT = _p(
    "class_weight",
    "choice",
    "none",
    "'balanced' weighs rare classes up; helps when classes are imbalanced.",
    choices=("none", "balanced"),
)
_N_ESTIMATORS = _p(
    "n_estimators", "int", 200, "Number of trees.", low=10, high=2000, log=True
)
_MAX_DEPTH = _p(
    "max_depth",
    "int",
    None,
    "Deepest a tree may grow; empty = no limit.",
    low=1,
    high=100,
    nullable=True,
)
_MIN_SAMPLES_LEAF = _p(
    "min_samples_leaf",
    "int",
    1,
    "Fewest rows in a leaf; larger values smooth the model.",
    low=1,
    high=1000,
    log=True,
)
_MAX_FEATURES = _p(
    "max_features",
    "choice",
    "sqrt",
    "Features each split considers.",
    choices=("sqrt", "log2", "all"),
)
_LEARNING_RATE = _p(
    "learning_rate",
    "float",
    0.1,
    "Shrinks each tree's contribution; smaller needs more trees.",
    low=0.001,
    high=1.0,
    log=True,
)
_HGB_ITER = _p("max_iter", "int", 200, "Boosting rounds.", low=10, high=5000, log=True)
_HGB_LEAF_NODES = _p(
    "max_leaf_nodes", "int", 31, "Leaves per tree.", low=2, high=1024, log=True
)
_L2 = _p(
    "l2_regularization",
    "float",
    0.0,
    "Penalty on leaf values.",
    low=0.0,
    high=100.0,
)
_K = _p("n_neighbors", "int", 5, "Neighbours that vote.", low=1, high=200, log=True)
_WEIGHTS = _p(
    "weights",
    "choice",
    "uniform",
    "'distance' lets nearer neighbours count more.",
    choices=("uniform", "distance"),
)
_SVM_C = _p(
    "C", "float", 1.0, "Inverse regularisation strength.", low=1e-4, high=1e4, log=True
)
_KERNEL = _p(
    "kernel", "choice", "rbf", "Kernel function.", choices=("rbf", "linear", "poly")
)
_HIDDEN = _p(
    "hidden_units",
    "int",
    100,
    "Units in each hidden layer.",
    low=4,
    high=1024,
    log=True,
)
_LAYERS = _p("hidden_layers", "int", 1, "Hidden layers.", low=1, high=4)
_ALPHA_MLP = _p("alpha", "float", 1e-4, "L2 penalty.", low=1e-7, high=10.0, log=True)
_MLP_ITER = _p(
    "max_iter", "int", 200, "Training epochs at most.", low=10, high=5000, log=True
)
_ALPHA_LINEAR = _p(
    "alpha",
    "float",
    1.0,
    "Regularisation strength; larger shrinks coefficients more.",
    low=1e-6,
    high=1e4,
    log=True,
)
_N_CLUSTERS = _p("n_clusters", "int", 3, "Number of clusters.", low=2, high=100)


def _none(value: str) -> Any:
    return None if value == "none" else value


def _max_features(value: str) -> Any:
    return None if value == "all" else value


def _mlp_layers(p: dict) -> tuple[int, ...]:
    return (p["hidden_units"],) * p["hidden_layers"]


def _forest(cls: type) -> Callable[[dict, int], Any]:
    def build(p: dict, rs: int) -> Any:
        extra = {}
        if "class_weight" in p:
            extra["class_weight"] = _none(p["class_weight"])
        return cls(
            n_estimators=p["n_estimators"],
            max_depth=p["max_depth"],
            min_samples_leaf=p["min_samples_leaf"],
            max_features=_max_features(p["max_features"]),
            n_jobs=1,
            random_state=rs,
            **extra,
        )

    return build


_GB_PARAMS = (
    _p("n_estimators", "int", 100, "Boosting rounds.", low=10, high=2000, log=True),
    _LEARNING_RATE,
    _p("max_depth", "int", 3, "Depth of each tree.", low=1, high=16),
    _p("subsample", "float", 1.0, "Share of rows each tree sees.", low=0.1, high=1.0),
)


def _gradient_boosting(cls: type) -> Callable[[dict, int], Any]:
    def build(p: dict, rs: int) -> Any:
        return cls(
            n_estimators=p["n_estimators"],
            learning_rate=p["learning_rate"],
            max_depth=p["max_depth"],
            subsample=p["subsample"],
            random_state=rs,
        )

    return build


def _hist_boosting(cls: type) -> Callable[[dict, int], Any]:
    def build(p: dict, rs: int) -> Any:
        extra = {}
        if "class_weight" in p:
            extra["class_weight"] = _none(p["class_weight"])
        return cls(
            learning_rate=p["learning_rate"],
            max_iter=p["max_iter"],
            max_leaf_nodes=p["max_leaf_nodes"],
            l2_regularization=p["l2_regularization"],
            early_stopping="auto",
            random_state=rs,
            **extra,
        )

    return build


def _mlp(cls: type) -> Callable[[dict, int], Any]:
    def build(p: dict, rs: int) -> Any:
        return cls(
            hidden_layer_sizes=_mlp_layers(p),
            alpha=p["alpha"],
            max_iter=p["max_iter"],
            early_stopping=True,
            random_state=rs,
        )

    return build


def _classification() -> list[Algorithm]:
    forest_params = (
        _N_ESTIMATORS,
        _MAX_DEPTH,
        _MIN_SAMPLES_LEAF,
        _MAX_FEATURES,
        _CLASS_WEIGHT,
    )
    return [
        Algorithm(
            key="baseline",
            task="classification",
            label="Baseline (most frequent class)",
            description=(
                "Predicts the class shares seen in training, whatever the input. "
                "Every real model has to beat it."
            ),
            fits="Always trained, as the yardstick.",
            build=lambda p, rs: dummy.DummyClassifier(strategy="prior"),
            baseline=True,
        ),
        Algorithm(
            key="logistic_regression",
            task="classification",
            label="Logistic regression",
            description="A linear model of the log-odds; fast and easy to explain.",
            fits="Any size; best when features relate to the class roughly linearly.",
            build=lambda p, rs: linear_model.LogisticRegression(
                C=p["C"],
                max_iter=p["max_iter"],
                class_weight=_none(p["class_weight"]),
                random_state=rs,
            ),
            params=(
                _p(
                    "C",
                    "float",
                    1.0,
                    "Inverse regularisation strength; smaller = simpler model.",
                    low=1e-4,
                    high=1e4,
                    log=True,
                ),
                _p(
                    "max_iter",
                    "int",
                    1000,
                    "Solver iterations at most.",
                    low=10,
                    high=10000,
                    log=True,
                ),
                _CLASS_WEIGHT,
            ),
        ),
        Algorithm(
            key="decision_tree",
            task="classification",
            label="Decision tree",
            description="One tree of if-then splits; readable, but over-fits easily.",
            fits="Small data, or when the rules must be read.",
            build=lambda p, rs: tree.DecisionTreeClassifier(
                max_depth=p["max_depth"],
                min_samples_leaf=p["min_samples_leaf"],
                class_weight=_none(p["class_weight"]),
                random_state=rs,
            ),
            params=(
                _p(
                    "max_depth",
                    "int",
                    8,
                    "Deepest the tree may grow; empty = no limit.",
                    low=1,
                    high=100,
                    nullable=True,
                ),
                _MIN_SAMPLES_LEAF,
                _CLASS_WEIGHT,
            ),
        ),
        Algorithm(
            key="random_forest",
            task="classification",
            label="Random forest",
            description="Many trees on bootstrap samples, voting; robust defaults.",
            fits="Small to large tabular data; little tuning needed.",
            build=_forest(ensemble.RandomForestClassifier),
            params=forest_params,
        ),
        Algorithm(
            key="extra_trees",
            task="classification",
            label="Extra trees",
            description="Like a random forest with random split points; faster.",
            fits="Small to large tabular data, noisy features.",
            build=_forest(ensemble.ExtraTreesClassifier),
            params=forest_params,
        ),
        Algorithm(
            key="gradient_boosting",
            task="classification",
            label="Gradient boosting",
            description="Trees added one by one, each fixing the last one's errors.",
            fits="Up to about 100,000 rows; slower than histogram boosting.",
            build=_gradient_boosting(ensemble.GradientBoostingClassifier),
            params=_GB_PARAMS,
            max_rows=200_000,
        ),
        Algorithm(
            key="hist_gradient_boosting",
            task="classification",
            label="Histogram gradient boosting",
            description=(
                "Gradient boosting on binned features (like LightGBM); usually the "
                "strongest on tabular data."
            ),
            fits="Thousands to millions of rows.",
            build=_hist_boosting(ensemble.HistGradientBoostingClassifier),
            params=(_LEARNING_RATE, _HGB_ITER, _HGB_LEAF_NODES, _L2, _CLASS_WEIGHT),
            dense=True,
        ),
        Algorithm(
            key="knn",
            task="classification",
            label="k-nearest neighbours",
            description="Votes of the most similar training rows.",
            fits="Small data, scaled numeric features; slow to predict on big data.",
            build=lambda p, rs: neighbors.KNeighborsClassifier(
                n_neighbors=p["n_neighbors"], weights=p["weights"]
            ),
            params=(_K, _WEIGHTS),
            max_rows=50_000,
        ),
        Algorithm(
            key="svm",
            task="classification",
            label="Support vector machine",
            description="A maximum-margin boundary, non-linear through a kernel.",
            fits="Up to about 10,000 rows: fit time grows with the square of rows.",
            build=lambda p, rs: svm.SVC(
                C=p["C"],
                kernel=p["kernel"],
                degree=p["degree"],
                probability=True,
                class_weight=_none(p["class_weight"]),
                random_state=rs,
            ),
            params=(
                _SVM_C,
                _KERNEL,
                _p(
                    "degree",
                    "int",
                    3,
                    "Degree of the 'poly' kernel (other kernels ignore it).",
                    low=2,
                    high=6,
                ),
                _CLASS_WEIGHT,
            ),
            max_rows=10_000,
        ),
        Algorithm(
            key="naive_bayes",
            task="classification",
            label="Naive Bayes (Gaussian)",
            description="Assumes features are independent given the class; very fast.",
            fits="A quick sanity check; small data.",
            build=lambda p, rs: naive_bayes.GaussianNB(
                var_smoothing=p["var_smoothing"]
            ),
            params=(
                _p(
                    "var_smoothing",
                    "float",
                    1e-9,
                    "Added to variances for stability.",
                    low=1e-12,
                    high=1.0,
                    log=True,
                ),
            ),
            dense=True,
        ),
        Algorithm(
            key="mlp",
            task="classification",
            label="Neural network (MLP)",
            description="A small fully connected network trained with Adam.",
            fits="Thousands of rows or more, scaled features.",
            build=_mlp(neural_network.MLPClassifier),
            params=(_HIDDEN, _LAYERS, _ALPHA_MLP, _MLP_ITER),
        ),
    ]


def _regression() -> list[Algorithm]:
    forest_params = (_N_ESTIMATORS, _MAX_DEPTH, _MIN_SAMPLES_LEAF, _MAX_FEATURES)
    max_features_all = _p(
        "max_features",
        "choice",
        "all",
        "Features each split considers.",
        choices=("sqrt", "log2", "all"),
    )
    forest_params = (*forest_params[:3], max_features_all)
    return [
        Algorithm(
            key="baseline",
            task="regression",
            label="Baseline (mean)",
            description="Predicts the training mean, whatever the input.",
            fits="Always trained, as the yardstick.",
            build=lambda p, rs: dummy.DummyRegressor(strategy="mean"),
            baseline=True,
        ),
        Algorithm(
            key="linear",
            task="regression",
            label="Linear regression",
            description="Ordinary least squares; the simplest model to explain.",
            fits="Any size; features related to the target roughly linearly.",
            build=lambda p, rs: linear_model.LinearRegression(),
        ),
        Algorithm(
            key="ridge",
            task="regression",
            label="Ridge",
            description="Linear regression with an L2 penalty; stable, many features.",
            fits="Any size; correlated features.",
            build=lambda p, rs: linear_model.Ridge(alpha=p["alpha"]),
            params=(_ALPHA_LINEAR,),
        ),
        Algorithm(
            key="lasso",
            task="regression",
            label="Lasso",
            description="Linear regression with an L1 penalty; zeroes weak features.",
            fits="Many features of which few matter.",
            build=lambda p, rs: linear_model.Lasso(
                alpha=p["alpha"], max_iter=p["max_iter"], random_state=rs
            ),
            params=(
                _p(
                    "alpha",
                    "float",
                    0.1,
                    "Regularisation strength.",
                    low=1e-6,
                    high=1e4,
                    log=True,
                ),
                _p(
                    "max_iter",
                    "int",
                    5000,
                    "Solver iterations.",
                    low=100,
                    high=100000,
                    log=True,
                ),
            ),
        ),
        Algorithm(
            key="elastic_net",
            task="regression",
            label="Elastic net",
            description="A mix of the ridge and lasso penalties.",
            fits="Many correlated features.",
            build=lambda p, rs: linear_model.ElasticNet(
                alpha=p["alpha"],
                l1_ratio=p["l1_ratio"],
                max_iter=p["max_iter"],
                random_state=rs,
            ),
            params=(
                _p(
                    "alpha",
                    "float",
                    0.1,
                    "Regularisation strength.",
                    low=1e-6,
                    high=1e4,
                    log=True,
                ),
                _p(
                    "l1_ratio",
                    "float",
                    0.5,
                    "0 = ridge, 1 = lasso.",
                    low=0.0,
                    high=1.0,
                ),
                _p(
                    "max_iter",
                    "int",
                    5000,
                    "Solver iterations.",
                    low=100,
                    high=100000,
                    log=True,
                ),
            ),
        ),
        Algorithm(
            key="random_forest",
            task="regression",
            label="Random forest",
            description="Many trees on bootstrap samples, averaged; robust defaults.",
            fits="Small to large tabular data; little tuning needed.",
            build=_forest(ensemble.RandomForestRegressor),
            params=forest_params,
        ),
        Algorithm(
            key="extra_trees",
            task="regression",
            label="Extra trees",
            description="Like a random forest with random split points; faster.",
            fits="Small to large tabular data, noisy features.",
            build=_forest(ensemble.ExtraTreesRegressor),
            params=forest_params,
        ),
        Algorithm(
            key="gradient_boosting",
            task="regression",
            label="Gradient boosting",
            description="Trees added one by one, each fixing the last one's errors.",
            fits="Up to about 100,000 rows; slower than histogram boosting.",
            build=_gradient_boosting(ensemble.GradientBoostingRegressor),
            params=_GB_PARAMS,
            max_rows=200_000,
        ),
        Algorithm(
            key="hist_gradient_boosting",
            task="regression",
            label="Histogram gradient boosting",
            description=(
                "Gradient boosting on binned features (like LightGBM); usually the "
                "strongest on tabular data."
            ),
            fits="Thousands to millions of rows.",
            build=_hist_boosting(ensemble.HistGradientBoostingRegressor),
            params=(_LEARNING_RATE, _HGB_ITER, _HGB_LEAF_NODES, _L2),
            dense=True,
        ),
        Algorithm(
            key="knn",
            task="regression",
            label="k-nearest neighbours",
            description="The average of the most similar training rows.",
            fits="Small data with scaled numeric features.",
            build=lambda p, rs: neighbors.KNeighborsRegressor(
                n_neighbors=p["n_neighbors"], weights=p["weights"]
            ),
            params=(_K, _WEIGHTS),
            max_rows=50_000,
        ),
        Algorithm(
            key="svr",
            task="regression",
            label="Support vector regression",
            description="A kernel regression that ignores errors below epsilon.",
            fits="Up to about 10,000 rows: fit time grows with the square of rows.",
            build=lambda p, rs: svm.SVR(
                C=p["C"], kernel=p["kernel"], epsilon=p["epsilon"]
            ),
            params=(
                _SVM_C,
                _KERNEL,
                _p(
                    "epsilon",
                    "float",
                    0.1,
                    "Errors below this are ignored.",
                    low=0.0,
                    high=100.0,
                ),
            ),
            max_rows=10_000,
        ),
        Algorithm(
            key="mlp",
            task="regression",
            label="Neural network (MLP)",
            description="A small fully connected network trained with Adam.",
            fits="Thousands of rows or more, scaled features.",
            build=_mlp(neural_network.MLPRegressor),
            params=(_HIDDEN, _LAYERS, _ALPHA_MLP, _MLP_ITER),
        ),
    ]


def _clustering() -> list[Algorithm]:
    return [
        Algorithm(
            key="kmeans",
            task="clustering",
            label="k-means",
            description="k round clusters around their centres.",
            fits="Any size; compact clusters of similar size.",
            build=lambda p, rs: cluster.KMeans(
                n_clusters=p["n_clusters"], n_init=p["n_init"], random_state=rs
            ),
            params=(
                _N_CLUSTERS,
                _p("n_init", "int", 4, "Restarts; the best is kept.", low=1, high=50),
            ),
        ),
        Algorithm(
            key="minibatch_kmeans",
            task="clustering",
            label="Mini-batch k-means",
            description="k-means on small batches; much faster on big data.",
            fits="Hundreds of thousands of rows or more.",
            build=lambda p, rs: cluster.MiniBatchKMeans(
                n_clusters=p["n_clusters"],
                batch_size=p["batch_size"],
                n_init=3,
                random_state=rs,
            ),
            params=(
                _N_CLUSTERS,
                _p(
                    "batch_size",
                    "int",
                    1024,
                    "Rows per batch.",
                    low=64,
                    high=65536,
                    log=True,
                ),
            ),
        ),
        Algorithm(
            key="dbscan",
            task="clustering",
            label="DBSCAN",
            description=(
                "Dense regions become clusters; sparse points are noise. Finds the "
                "number of clusters itself."
            ),
            fits="Up to about 20,000 rows; clusters of any shape. Cannot assign new "
            "rows, so it cannot be deployed.",
            build=lambda p, rs: cluster.DBSCAN(
                eps=p["eps"], min_samples=p["min_samples"]
            ),
            params=(
                _p(
                    "eps",
                    "float",
                    0.5,
                    "Neighbourhood radius (on scaled features).",
                    low=1e-4,
                    high=1e3,
                    log=True,
                ),
                _p(
                    "min_samples",
                    "int",
                    5,
                    "Neighbours that make a point a core point.",
                    low=1,
                    high=1000,
                    log=True,
                ),
            ),
            max_rows=20_000,
            predicts_new_rows=False,
        ),
        Algorithm(
            key="agglomerative",
            task="clustering",
            label="Agglomerative (hierarchical)",
            description="Merges the closest clusters step by step.",
            fits="Up to about 10,000 rows: memory grows with the square of rows. "
            "Cannot assign new rows, so it cannot be deployed.",
            build=lambda p, rs: cluster.AgglomerativeClustering(
                n_clusters=p["n_clusters"], linkage=p["linkage"]
            ),
            params=(
                _N_CLUSTERS,
                _p(
                    "linkage",
                    "choice",
                    "ward",
                    "How cluster distance is measured.",
                    choices=("ward", "complete", "average", "single"),
                ),
            ),
            dense=True,
            max_rows=10_000,
            predicts_new_rows=False,
        ),
        Algorithm(
            key="gaussian_mixture",
            task="clustering",
            label="Gaussian mixture",
            description="Clusters as overlapping bell curves, with soft membership.",
            fits="Up to about a million rows; elliptical clusters.",
            build=lambda p, rs: mixture.GaussianMixture(
                n_components=p["n_clusters"],
                covariance_type=p["covariance_type"],
                random_state=rs,
            ),
            params=(
                _N_CLUSTERS,
                _p(
                    "covariance_type",
                    "choice",
                    "full",
                    "Shape freedom of each cluster.",
                    choices=("full", "tied", "diag", "spherical"),
                ),
            ),
            dense=True,
        ),
    ]


CATALOG: dict[str, dict[str, Algorithm]] = {
    task: {a.key: a for a in build()}
    for task, build in (
        ("classification", _classification),
        ("regression", _regression),
        ("clustering", _clustering),
    )
}


def algorithm_get(task_type: str, key: Any, *, field: str = "algorithm") -> Algorithm:
    """The catalog entry, or a SpecError naming ``field``."""
    entries = CATALOG.get(task_type)
    if entries is None:
        raise SpecError(f"Unknown task type {task_type!r}.", field="task_type")
    if not isinstance(key, str) or key not in entries:
        raise SpecError(
            f"{field}: {key!r} is not a {task_type} algorithm; choose one of: "
            f"{', '.join(entries)}.",
            field=field,
        )
    return entries[key]


def baseline_key(task_type: str) -> str | None:
    """The baseline's key for the task (None for clustering)."""
    for key, algorithm in CATALOG.get(task_type, {}).items():
        if algorithm.baseline:
            return key
    return None


def check_param_value(param: Param, value: Any, field: str) -> Any:
    """One parameter value checked against its entry (SpecError naming ``field``)."""
    if value is None:
        if param.nullable:
            return None
        raise SpecError(f"{field}: a value is required.", field=field)
    if param.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{field}: give true or false.", field=field)
        return value
    if param.kind == "choice":
        if value not in param.choices:
            raise SpecError(
                f"{field}: {value!r} is not one of: "
                f"{', '.join(map(str, param.choices))}.",
                field=field,
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{field}: give a number.", field=field)
    if param.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise SpecError(f"{field}: give a whole number.", field=field)
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise SpecError(f"{field}: give a finite number.", field=field)
    if (param.low is not None and value < param.low) or (
        param.high is not None and value > param.high
    ):
        raise SpecError(
            f"{field}: must be between {param.low:g} and {param.high:g}.", field=field
        )
    return value


def validate_params(
    task_type: str, key: str, params: Any, *, prefix: str = "params"
) -> dict:
    """Check user parameters for an algorithm and fill in the defaults.

    Parameters
    ----------
    task_type, key : str
        The catalog entry.
    params : dict or None
        Parameter name to value; unknown names are refused.
    prefix : str, default="params"
        Start of the field path in errors (``params.max_depth``).

    Returns
    -------
    dict
        Every parameter of the entry, the user's values over the defaults.

    Raises
    ------
    SpecError
        Naming ``<prefix>.<name>`` for an unknown name or a value out of range.
    """
    algorithm = algorithm_get(task_type, key)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise SpecError(f"{prefix}: give an object of name: value.", field=prefix)
    known = {p.name: p for p in algorithm.params}
    for name in params:
        if name not in known:
            allowed = ", ".join(known) or "none"
            raise SpecError(
                f"{prefix}.{name}: {algorithm.label} has no parameter {name!r} "
                f"(it has: {allowed}).",
                field=f"{prefix}.{name}",
            )
    out = {}
    for name, param in known.items():
        value = params.get(name, param.default)
        out[name] = check_param_value(param, value, f"{prefix}.{name}")
    return out


def build_estimator(
    task_type: str, key: str, params: dict | None = None, *, random_state: int = 0
) -> Any:
    """The unfitted estimator for validated ``params`` (defaults where missing)."""
    algorithm = algorithm_get(task_type, key)
    full = validate_params(task_type, key, params or {})
    return algorithm.build(full, random_state)


def catalog_for(task_type: str, *, n_rows: int | None = None) -> list[dict]:
    """The task's catalog as JSON: entries with their parameter schemas."""
    if task_type not in CATALOG:
        raise SpecError(f"Unknown task type {task_type!r}.", field="task_type")
    return [a.schema(n_rows=n_rows) for a in CATALOG[task_type].values()]


def suggest_algorithms(
    task_type: str, *, n_rows: int, kinds: dict[str, str] | None = None
) -> list[dict]:
    """A short list of candidates for this data, each with a one-line reason.

    Classification and regression: a linear model (the simple, explainable
    reference), a random forest (robust without tuning) and gradient boosting
    (histogram boosting above 2,000 rows, classic boosting below, where bins
    are too coarse). Clustering: k-means (mini-batch above 200,000 rows), a
    Gaussian mixture, and agglomerative clustering when the data is small.
    """
    kinds = kinds or {}
    text_heavy = sum(1 for k in kinds.values() if k == "text")
    if task_type == "clustering":
        picks = [
            (
                "minibatch_kmeans" if n_rows > 200_000 else "kmeans",
                "Fast and the usual first try; compare a few cluster counts.",
            ),
            ("gaussian_mixture", "Allows clusters of different shapes and sizes."),
        ]
        if n_rows <= 10_000:
            picks.append(
                ("agglomerative", "Small data: a hierarchy can find uneven clusters.")
            )
        return [{"key": k, "reason": r} for k, r in picks]
    linear = "logistic_regression" if task_type == "classification" else "ridge"
    picks = [
        (
            linear,
            "A linear model: fast, explainable, and the reference a complex "
            "model must beat"
            + (" (text columns suit it well)." if text_heavy else "."),
        ),
        ("random_forest", "Robust on tabular data with little tuning."),
    ]
    if n_rows >= 2_000:
        picks.append(
            (
                "hist_gradient_boosting",
                f"{n_rows:,} rows: histogram boosting is usually the strongest here.",
            )
        )
    else:
        picks.append(
            (
                "gradient_boosting",
                f"Only {n_rows:,} rows: classic boosting, which needs no binning.",
            )
        )
    return [{"key": k, "reason": r} for k, r in picks]
