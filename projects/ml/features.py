"""Feature engineering: a per-column spec compiled into a ColumnTransformer.

A feature spec is data (JSON) that a person writes in the wizard or through the API.
:func:`suggest_features` proposes one from a profile, :func:`validate_features`
checks one against the dataset's columns, :func:`compile_features` turns it into an
unfitted :class:`~sklearn.compose.ColumnTransformer` (the first stage of every model
Pipeline) and :func:`preview_features` fits that on the training rows to show what
comes out.

Spec shape
----------
::

    {
      "columns": {
        "age":    {"kind": "numeric", "impute": "median", "fill_value": 0.0,
                   "add_indicator": false, "scaler": "standard",
                   "transform": "none", "bins": null},
        "city":   {"kind": "categorical", "encoding": "onehot",
                   "min_frequency": 0.01, "max_categories": null},
        "signup": {"kind": "datetime", "parts": ["year", "month", "days_since"],
                   "reference": null, "scaler": "none"},
        "review": {"kind": "text", "max_features": 200},
        "active": {"kind": "boolean"},
        "user_id": {"kind": "drop"}
      },
      "interactions": [["age", "income"]],
      "max_features_out": 500,
      "reasons": {"user_id": "Looks like an identifier; it will not help a model."}
    }

A column missing from ``columns`` is not a feature, like ``"drop"``. ``reasons``
is free text, one line per column, kept for the page and ignored when compiling.

Options
-------
numeric
    ``impute`` (median, mean, most_frequent, constant with ``fill_value``);
    ``add_indicator`` adds a 0/1 "was missing" column (always present, so the
    output width does not depend on the data); ``transform`` ``log`` is a signed
    ``log1p`` (``sign(x) * log(1 + |x|)``, equal to ``log1p`` on non-negative values
    and defined everywhere, so serving never fails on a negative value);
    ``yeo-johnson`` is a :class:`~sklearn.preprocessing.PowerTransformer`; then
    ``scaler``, or ``bins`` (one-hot of quantile bins) in place of scaling.
categorical
    Missing values become their own category ``"(missing)"``; values are compared
    as text (``1`` and ``1.0`` are the same category). ``onehot`` groups categories
    rarer than ``min_frequency`` (a row count >= 1 or a share below 1) into one
    "infrequent" column, which also receives categories first seen after fitting
    (all zeros when nothing was infrequent). ``ordinal`` uses the same grouping and
    codes unseen categories as -1. ``target`` is scikit-learn's cross-fitted
    :class:`~sklearn.preprocessing.TargetEncoder` (classification and regression
    only; multiclass targets give one column per class).
datetime
    ``parts`` of year, month, day, dayofweek (Monday = 0), hour, is_weekend and
    days_since (days after ``reference``; by default the earliest training date,
    learned at fit). Time zones are dropped keeping local wall-clock time. Missing
    dates get the training median of each part.
text
    TF-IDF of one column with at most ``max_features`` (1-5000) words; missing
    text counts as empty.
boolean
    True/yes/y/t/1/on are 1, false/no/n/f/0/off are 0 (any non-zero number is 1);
    anything else, and missing values, get the most frequent training value.
interactions
    The product of two numeric columns after their own imputation (before their
    transform and scaling), standardised.

Output feature names are readable (``age``, ``city_Paris``, ``review_great``,
``signup_year``, ``missingindicator_age``, ``age*income``); the fitted
transformer's ``output_indices_`` maps each transformer (named after its column)
to its output columns.

Pure pandas/numpy/scikit-learn/pydantic: never imports Django.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)
from sklearn.utils.validation import check_is_fitted

from projects.ml.errors import SpecError, spec_error_from_pydantic

__all__ = [
    "DEFAULT_MAX_FEATURES_OUT",
    "BooleanSpec",
    "CategoricalSpec",
    "DatetimeFeatures",
    "DatetimeSpec",
    "DropSpec",
    "FeatureSpec",
    "NumericSpec",
    "TextSpec",
    "compile_features",
    "preview_features",
    "suggest_features",
    "validate_features",
]

TASK_TYPES = ("classification", "regression", "clustering")
SPEC_KINDS = ("numeric", "categorical", "datetime", "text", "boolean", "drop")
DATETIME_PARTS = (
    "year",
    "month",
    "day",
    "dayofweek",
    "hour",
    "is_weekend",
    "days_since",
)
DEFAULT_MAX_FEATURES_OUT = 2000
HIGH_CARDINALITY = 50  # more levels than this: one-hot is a poor default
MAX_TEXT_FEATURES = 5000
MAX_INTERACTIONS = 50
MISSING_CATEGORY = "(missing)"
SKEW_LIMIT = 2.0  # the profile's "skewed" threshold
INDICATOR_SHARE = 0.05  # suggest a missing indicator from this share of missing rows
CV_FOLDS = 5

# Which data kinds (the profile's) each spec kind can be applied to. Anything can be
# compared as text, so categorical takes most; numbers and dates need real values.
COMPATIBLE: dict[str, frozenset[str]] = {
    "numeric": frozenset({"numeric"}),
    "categorical": frozenset(
        {"categorical", "boolean", "numeric", "identifier", "text"}
    ),
    "datetime": frozenset({"datetime"}),
    "text": frozenset({"text", "categorical", "identifier"}),
    "boolean": frozenset({"boolean"}),
    "drop": frozenset(
        {"numeric", "categorical", "boolean", "datetime", "text", "identifier"}
    ),
}
_TRUE = frozenset({"true", "yes", "y", "t", "1", "on", "1.0"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "off", "0.0"})
_DT_ATTRIBUTES = {"dayofweek": "day_of_week"}  # pandas 3 deprecates "dayofweek"
_SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
# ColumnTransformer refuses transformer names that shadow its own parameters.
_RESERVED = frozenset(ColumnTransformer([]).get_params(deep=False)) | {"remainder"}


# ----------------------------------------------------------------------- spec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Scaler = Literal["standard", "minmax", "robust", "none"]


class NumericSpec(_Strict):
    """Options for a numeric column (see the module docstring)."""

    kind: Literal["numeric"] = "numeric"
    impute: Literal["median", "mean", "most_frequent", "constant"] = "median"
    fill_value: float = Field(0.0, allow_inf_nan=False)
    add_indicator: bool = False
    scaler: Scaler = "standard"
    transform: Literal["none", "log", "yeo-johnson"] = "none"
    bins: int | None = Field(None, ge=2, le=100)

    @model_validator(mode="before")
    @classmethod
    def _bins_replace_scaling(cls, data: Any) -> Any:
        # Bins without a scaler mean "no scaler": spell it out, so that the stored
        # spec validates again as it is.
        if isinstance(data, dict) and data.get("bins") is not None:
            data = {"scaler": "none", **data}
        return data


class CategoricalSpec(_Strict):
    """Options for a categorical column (see the module docstring)."""

    kind: Literal["categorical"] = "categorical"
    encoding: Literal["onehot", "ordinal", "target"] = "onehot"
    min_frequency: int | float | None = 0.01
    max_categories: int | None = Field(None, ge=2, le=10_000)

    @field_validator("min_frequency", mode="before")
    @classmethod
    def _rows_or_share(cls, value: Any) -> Any:
        # One number means two things (rows or share), so check it by hand: a union
        # would report one error per member.
        if value is None:
            return None
        problem = "must be a row count (1 or more) or a share between 0 and 1"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(problem)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(problem)
        if value >= 1:
            if float(value) != int(value):
                raise ValueError(problem)
            return int(value)
        return float(value)


class DatetimeSpec(_Strict):
    """Options for a datetime column (see the module docstring)."""

    kind: Literal["datetime"] = "datetime"
    parts: list[
        Literal["year", "month", "day", "dayofweek", "hour", "is_weekend", "days_since"]
    ] = Field(
        default_factory=lambda: ["year", "month", "day", "dayofweek", "days_since"],
        min_length=1,
    )
    reference: datetime | None = None
    scaler: Scaler = "none"

    @field_validator("parts")
    @classmethod
    def _unique_parts(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a part twice")
        return value


class TextSpec(_Strict):
    """Options for a free-text column (see the module docstring)."""

    kind: Literal["text"] = "text"
    max_features: int = Field(200, ge=1, le=MAX_TEXT_FEATURES)


class BooleanSpec(_Strict):
    """A yes/no column, cast to 0/1."""

    kind: Literal["boolean"] = "boolean"


class DropSpec(_Strict):
    """A column that is not a feature."""

    kind: Literal["drop"] = "drop"


ColumnSpec = Annotated[
    NumericSpec | CategoricalSpec | DatetimeSpec | TextSpec | BooleanSpec | DropSpec,
    Field(discriminator="kind"),
]
_COLUMN = TypeAdapter(ColumnSpec)


class FeatureSpec(_Strict):
    """A validated feature spec; ``model_dump(mode="json")`` gives the JSON back."""

    columns: dict[str, ColumnSpec]
    interactions: list[tuple[str, str]] = Field(
        default_factory=list, max_length=MAX_INTERACTIONS
    )
    max_features_out: int | None = Field(None, ge=1, le=1_000_000)
    reasons: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict
    )

    def features(self) -> dict[str, Any]:
        """The columns that are features, in spec order."""
        return {n: c for n, c in self.columns.items() if c.kind != "drop"}


def _model(spec: FeatureSpec | dict) -> FeatureSpec:
    """Validate the spec's structure; column errors get ``columns.<name>.<option>``."""
    if isinstance(spec, FeatureSpec):
        return spec
    if not isinstance(spec, dict):
        raise SpecError("The feature spec must be a JSON object.", field="body")
    columns = spec.get("columns")
    if isinstance(columns, dict):
        # Column by column, so a column named like a kind ("text") is not mistaken
        # for pydantic's union tag when the location is turned into a field path.
        for name, column in columns.items():
            field = f"columns.{name}"
            if not isinstance(column, dict):
                raise SpecError(
                    f"{field}: give an object with a kind, e.g. {{'kind': 'drop'}}.",
                    field=field,
                )
            kind = column.get("kind")
            if kind not in SPEC_KINDS:
                raise SpecError(
                    f"{field}.kind: column {name!r} needs a kind, one of "
                    f"{', '.join(SPEC_KINDS)}; got {kind!r}.",
                    field=f"{field}.kind",
                )
            try:
                _COLUMN.validate_python(column)
            except ValidationError as exc:
                raise spec_error_from_pydantic(
                    exc, prefix=field, tags=SPEC_KINDS
                ) from None
    try:
        return FeatureSpec.model_validate(spec)
    except ValidationError as exc:
        raise spec_error_from_pydantic(exc) from None


def _check_task(task_type: str) -> None:
    if task_type not in TASK_TYPES:
        raise SpecError(
            f"task_type: choose one of {', '.join(TASK_TYPES)}; got {task_type!r}.",
            field="task_type",
        )


def _check_spec(fs: FeatureSpec, task_type: str) -> None:
    """Rules that need more than one field (and the task), data aside."""
    _check_task(task_type)
    features = fs.features()
    if not features:
        raise SpecError(
            "columns: every column is dropped; keep at least one feature.",
            field="columns",
        )
    for name, col in features.items():
        field = f"columns.{name}"
        if (
            col.kind == "numeric"
            and col.bins is not None
            and "scaler" in col.model_fields_set
            and col.scaler != "none"
        ):
            raise SpecError(
                f"{field}.scaler: column {name!r} is binned (bins={col.bins}), which "
                f"replaces scaling; set scaler to 'none' or remove bins.",
                field=f"{field}.scaler",
            )
        if (
            col.kind == "categorical"
            and col.encoding == "target"
            and task_type == "clustering"
        ):
            raise SpecError(
                f"{field}.encoding: target encoding of {name!r} needs a target, and "
                "clustering has none; use onehot or ordinal.",
                field=f"{field}.encoding",
            )
    seen: set[frozenset[str]] = set()
    for i, pair in enumerate(fs.interactions):
        for j, name in enumerate(pair):
            col = features.get(name)
            if col is None or col.kind != "numeric":
                what = "not a feature" if col is None else f"a {col.kind} feature"
                raise SpecError(
                    f"interactions.{i}.{j}: interactions multiply numeric features, "
                    f"but {name!r} is {what}.",
                    field=f"interactions.{i}.{j}",
                )
        key = frozenset(pair)
        if len(key) == 1:
            raise SpecError(
                f"interactions.{i}: an interaction needs two different columns; "
                f"got {pair[0]!r} twice.",
                field=f"interactions.{i}",
            )
        if key in seen:
            raise SpecError(
                f"interactions.{i}: {pair[0]!r} x {pair[1]!r} is listed twice.",
                field=f"interactions.{i}",
            )
        seen.add(key)


def validate_features(
    spec: FeatureSpec | dict,
    *,
    columns: dict[str, str],
    target: str | None,
    task_type: str,
) -> FeatureSpec:
    """Check a feature spec against the dataset it will be applied to.

    Parameters
    ----------
    spec : dict or FeatureSpec
        The spec as JSON data (see the module docstring).
    columns : dict of str to str
        Every column of the dataset and its profiled kind (``numeric``,
        ``categorical``, ``boolean``, ``datetime``, ``text``, ``identifier``).
    target : str or None
        The target column; it may only appear with kind ``drop``.
    task_type : {"classification", "regression", "clustering"}
        Target encoding is refused for clustering.

    Returns
    -------
    FeatureSpec
        The validated spec.

    Raises
    ------
    SpecError
        The first problem, with ``field`` a dotted path such as
        ``columns.age.scaler`` or ``interactions.0.1``.
    """
    _check_task(task_type)
    fs = _model(spec)
    for name, col in fs.columns.items():
        field = f"columns.{name}"
        if name not in columns:
            raise SpecError(
                f"{field}: the dataset has no column {name!r}.", field=field
            )
        if col.kind == "drop":
            continue
        if name == target:
            raise SpecError(
                f"{field}: {name!r} is the target; it cannot also be a feature.",
                field=field,
            )
        data_kind = columns[name]
        if data_kind not in COMPATIBLE[col.kind]:
            fits = [k for k in SPEC_KINDS if data_kind in COMPATIBLE[k]]
            raise SpecError(
                f"{field}.kind: column {name!r} holds {data_kind} values, which "
                f"cannot be treated as {col.kind}; use {' or '.join(fits)}.",
                field=f"{field}.kind",
            )
    _check_spec(fs, task_type)
    return fs


# -------------------------------------------------------------- transformers
# Module-level functions (not lambdas) so a fitted pipeline pickles with joblib.


def _frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    return pd.DataFrame(X)


def _label(value: Any) -> str:
    # Integers come back as floats once a batch has a missing value; one label
    # for both keeps a category from turning unknown at serving time.
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_category_text(X: Any) -> np.ndarray:
    """Every value as text, missing values as their own category."""
    frame = _frame(X)
    out = np.empty(frame.shape, dtype=object)
    for j in range(frame.shape[1]):
        # factorize: one Python call per distinct value instead of per row.
        codes, uniques = pd.factorize(frame.iloc[:, j], use_na_sentinel=True)
        labels = np.array([_label(u) for u in uniques] + [MISSING_CATEGORY], object)
        out[:, j] = labels[codes]  # code -1 (missing) picks the last label
    return out


def _as_binary(X: Any) -> np.ndarray:
    """Yes/no values as 1.0/0.0; anything else NaN, left to the imputer."""
    frame = _frame(X)
    out = np.full(frame.shape, np.nan)
    for j in range(frame.shape[1]):
        s = frame.iloc[:, j]
        if ptypes.is_bool_dtype(s.dtype) or ptypes.is_numeric_dtype(s.dtype):
            v = s.to_numpy(dtype="float64", na_value=np.nan)
            out[:, j] = np.where(np.isnan(v), np.nan, (v != 0).astype("float64"))
            continue
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        norm = [str(u).strip().lower() for u in uniques]
        mapped = np.array(
            [1.0 if t in _TRUE else 0.0 if t in _FALSE else np.nan for t in norm]
            + [np.nan]
        )
        out[:, j] = mapped[codes]
    return out


def _fill_text(X: Any) -> pd.Series:
    """One text column with missing values as empty strings (TF-IDF wants 1-D)."""
    if isinstance(X, pd.DataFrame):
        X = X.iloc[:, 0]
    s = X if isinstance(X, pd.Series) else pd.Series(np.asarray(X, object).ravel())
    return s.astype(object).where(s.notna(), "").astype(str)


def _signed_log1p(X: Any) -> np.ndarray:
    X = np.asarray(X, dtype="float64")
    return np.sign(X) * np.log1p(np.abs(X))


def _row_product(X: Any) -> np.ndarray:
    return np.prod(np.asarray(X, dtype="float64"), axis=1, keepdims=True)


def _product_name(transformer: Any, input_features: Any) -> np.ndarray:
    return np.asarray(["*".join(map(str, input_features))], dtype=object)


def _prefixed(transformer: Any, input_features: Any, *, prefix: str) -> np.ndarray:
    return np.asarray([f"{prefix}_{f}" for f in input_features], dtype=object)


def _to_datetime(s: pd.Series) -> pd.Series:
    if not ptypes.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s, errors="coerce", format="mixed")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)  # keep local wall-clock time
    return s


def _naive(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(None) if ts.tz is not None else ts


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Calendar parts of datetime columns, as floats (NaN where the date is missing).

    Parameters
    ----------
    parts : sequence of str
        Any of ``year``, ``month``, ``day``, ``dayofweek`` (Monday = 0), ``hour``,
        ``is_weekend`` and ``days_since``.
    reference : datetime-like or None
        Origin of ``days_since``; None learns each column's earliest date at fit.

    Attributes
    ----------
    reference_ : list of pandas.Timestamp
        The origin used for each input column (NaT when a column had no dates).
    feature_names_in_ : ndarray of str
        Input column names, when fitted on a DataFrame.
    n_features_in_ : int
        Number of input columns.
    """

    def __init__(self, parts: tuple[str, ...] = DATETIME_PARTS, reference=None):
        self.parts = parts
        self.reference = reference

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        """Learn the reference date of each column (unless one was given)."""
        unknown = set(self.parts) - set(DATETIME_PARTS)
        if unknown:
            raise ValueError(f"Unknown datetime parts: {sorted(unknown)}")
        frame = _frame(X)
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.reference_ = [
            _naive(self.reference)
            if self.reference is not None
            else _to_datetime(frame.iloc[:, j]).min()
            for j in range(frame.shape[1])
        ]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """One float column per input column and part."""
        check_is_fitted(self, "reference_")
        frame = _frame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Expected {self.n_features_in_} columns, got {frame.shape[1]}"
            )
        out = []
        for j in range(frame.shape[1]):
            s = _to_datetime(frame.iloc[:, j])
            for part in self.parts:
                if part == "days_since":
                    values = (s - self.reference_[j]) / pd.Timedelta(days=1)
                elif part == "is_weekend":
                    values = (s.dt.day_of_week >= 5).astype("float64").where(s.notna())
                else:
                    values = getattr(s.dt, _DT_ATTRIBUTES.get(part, part))
                out.append(pd.Series(values).to_numpy(dtype="float64", na_value=np.nan))
        return np.column_stack(out) if out else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<column>_<part>`` for each input column and part."""
        check_is_fitted(self, "reference_")
        if input_features is None:
            input_features = getattr(
                self,
                "feature_names_in_",
                [f"x{j}" for j in range(self.n_features_in_)],
            )
        return np.asarray(
            [f"{c}_{p}" for c in input_features for p in self.parts], dtype=object
        )


# ------------------------------------------------------------------ compile


def _imputer(col: NumericSpec) -> SimpleImputer:
    # keep_empty_features: a column missing in every training row still yields its
    # column, so the output width is what the spec says.
    return SimpleImputer(
        strategy=col.impute,
        fill_value=col.fill_value if col.impute == "constant" else None,
        keep_empty_features=True,
    )


def _numeric(col: NumericSpec, random_state: int) -> Any:
    steps: list[tuple[str, Any]] = [("impute", _imputer(col))]
    if col.transform == "log":
        steps.append(
            ("log", FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"))
        )
    elif col.transform == "yeo-johnson":
        steps.append(
            ("power", PowerTransformer(method="yeo-johnson", standardize=False))
        )
    if col.bins is not None:
        steps.append(
            (
                "bins",
                KBinsDiscretizer(
                    n_bins=col.bins,
                    encode="onehot-dense",
                    strategy="quantile",
                    random_state=random_state,
                ),
            )
        )
    elif col.scaler != "none":
        steps.append(("scale", _SCALERS[col.scaler]()))
    value = Pipeline(steps)
    if not col.add_indicator:
        return value
    # The indicator sits beside the value pipeline so it is neither transformed,
    # scaled nor binned; features="all" keeps it even without training gaps.
    return FeatureUnion(
        [("value", value), ("missing", MissingIndicator(features="all"))],
        verbose_feature_names_out=False,
    )


def _categorical(col: CategoricalSpec, task_type: str, random_state: int) -> Pipeline:
    as_text = FunctionTransformer(_as_category_text, feature_names_out="one-to-one")
    if col.encoding == "onehot":
        encoder: Any = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=col.min_frequency,
            max_categories=col.max_categories,
        )
    elif col.encoding == "ordinal":
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            min_frequency=col.min_frequency,
            max_categories=col.max_categories,
        )
    else:
        # Integer-coded regression targets would look multiclass to "auto".
        continuous = task_type == "regression"
        splitter = KFold if continuous else StratifiedKFold
        encoder = TargetEncoder(
            target_type="continuous" if continuous else "auto",
            cv=splitter(n_splits=CV_FOLDS, shuffle=True, random_state=random_state),
        )
    return Pipeline([("text", as_text), ("encode", encoder)])


def _datetime(col: DatetimeSpec) -> Pipeline:
    steps: list[tuple[str, Any]] = [
        ("parts", DatetimeFeatures(parts=tuple(col.parts), reference=col.reference)),
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
    ]
    if col.scaler != "none":
        steps.append(("scale", _SCALERS[col.scaler]()))
    return Pipeline(steps)


def _text(name: str, col: TextSpec) -> Pipeline:
    return Pipeline(
        [
            ("fill", FunctionTransformer(_fill_text, feature_names_out="one-to-one")),
            ("tfidf", TfidfVectorizer(max_features=col.max_features)),
            # Words alone would collide across text columns and with other names.
            (
                "name",
                FunctionTransformer(
                    feature_names_out=partial(_prefixed, prefix=name),
                    accept_sparse=True,
                ),
            ),
        ]
    )


def _boolean() -> Pipeline:
    return Pipeline(
        [
            ("binary", FunctionTransformer(_as_binary, feature_names_out="one-to-one")),
            (
                "impute",
                SimpleImputer(strategy="most_frequent", keep_empty_features=True),
            ),
        ]
    )


def _interaction(a: NumericSpec, b: NumericSpec, names: tuple[str, str]) -> Pipeline:
    impute = ColumnTransformer(
        [("left", _imputer(a), [names[0]]), ("right", _imputer(b), [names[1]])],
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [
            ("impute", impute),
            (
                "product",
                FunctionTransformer(_row_product, feature_names_out=_product_name),
            ),
            ("scale", StandardScaler()),
        ]
    )


def _unique_name(candidate: str, fallback: str, taken: set[str]) -> str:
    name = candidate
    if not name or "__" in name or name in _RESERVED or name in taken:
        name = fallback
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _blocks(
    fs: FeatureSpec, task_type: str, random_state: int
) -> list[tuple[str, Any, Any, tuple[str, ...]]]:
    """The ColumnTransformer's parts: ``(name, estimator, selector, sources)``.

    Numeric columns without bins that share every setting share one transformer
    (imputing, transforming and scaling are column by column, so the values are
    the same): scikit-learn's checks cost about a millisecond per transformer and
    call, which on a few thousand rows outweighs the work (30 numeric columns: 114
    ms per fit as one transformer each, 6 ms as one). Every other column and each
    interaction gets its own. ``sources`` are the spec columns a part reads, in
    output order (an interaction's is ``a*b``); each source of a shared part
    yields the same number of output columns.
    """
    features = fs.features()
    shared: dict[str, list[str]] = {}
    for column, col in features.items():
        if col.kind == "numeric" and col.bins is None:
            shared.setdefault(col.model_dump_json(), []).append(column)
    taken: set[str] = set()
    blocks: list[tuple[str, Any, Any, tuple[str, ...]]] = []
    for i, (column, col) in enumerate(features.items()):
        group = shared.get(col.model_dump_json()) if col.kind == "numeric" else None
        if group and len(group) > 1:
            if column != group[0]:
                continue  # placed with the group's first column
            name = _unique_name("numeric", f"numeric_{i}", taken)
            blocks.append(
                (name, _numeric(col, random_state), list(group), tuple(group))
            )
            continue
        name = _unique_name(column, f"column_{i}", taken)
        if col.kind == "numeric":
            est: Any = _numeric(col, random_state)
        elif col.kind == "categorical":
            est = _categorical(col, task_type, random_state)
        elif col.kind == "datetime":
            est = _datetime(col)
        elif col.kind == "text":
            est = _text(column, col)
        else:
            est = _boolean()
        # A string selector hands TfidfVectorizer the 1-D column it expects.
        selector = column if col.kind == "text" else [column]
        blocks.append((name, est, selector, (column,)))
    for i, (a, b) in enumerate(fs.interactions):
        name = _unique_name(f"{a}*{b}", f"interaction_{i}", taken)
        est = _interaction(features[a], features[b], (a, b))
        blocks.append((name, est, [a, b], (f"{a}*{b}",)))
    return blocks


def _column_transformer(blocks: list, sparse_threshold: float) -> ColumnTransformer:
    return ColumnTransformer(
        [(name, est, selector) for name, est, selector, _ in blocks],
        remainder="drop",
        sparse_threshold=sparse_threshold,
        verbose_feature_names_out=False,
    )


def compile_features(
    spec: FeatureSpec | dict,
    *,
    task_type: str,
    random_state: int = 0,
    sparse_threshold: float = 0.3,
) -> ColumnTransformer:
    """Build the unfitted ColumnTransformer for a feature spec.

    Parameters
    ----------
    spec : dict or FeatureSpec
        The spec (structure and cross-field rules are checked here too; checks
        against the dataset are :func:`validate_features`' job).
    task_type : {"classification", "regression", "clustering"}
        Picks the target encoder's type; target encoding is refused for clustering.
    random_state : int, default=0
        Seeds the target encoder's folds and the quantile binning subsample.
    sparse_threshold : float, default=0.3
        Passed to the ColumnTransformer: one-hot and TF-IDF outputs stay sparse when
        the overall density is below it. Use 0.0 for estimators that need dense
        input (e.g. HistGradientBoosting).

    Returns
    -------
    sklearn.compose.ColumnTransformer
        One transformer per feature column, named after the column (or
        ``column_<i>`` when the name cannot be used), except that numeric columns
        without bins sharing every setting share one (``numeric``, placed at the
        first of them); then one per interaction (``a*b``); ``remainder="drop"``;
        readable output names (no prefixes).

    Raises
    ------
    SpecError
        When the spec is malformed or inconsistent.
    """
    fs = _model(spec)
    _check_spec(fs, task_type)
    return _column_transformer(_blocks(fs, task_type, random_state), sparse_threshold)


# ------------------------------------------------------------------ preview


def _owner(sources: tuple[str, ...], feature: str) -> str:
    """The spec column (or ``a*b`` interaction) an output feature comes from: a
    shared numeric part names its outputs after its columns (``missingindicator_``
    before the column for an indicator)."""
    if len(sources) == 1:
        return sources[0]
    return feature.removeprefix("missingindicator_")


def _estimate(
    fs: FeatureSpec, frame: pd.DataFrame, y: Any, task_type: str
) -> dict[str, int]:
    """Output width per column before fitting, where it is cheap to know."""
    out: dict[str, int] = {}
    for name, col in fs.features().items():
        if col.kind == "numeric":
            out[name] = (col.bins or 1) + int(col.add_indicator)
        elif col.kind == "datetime":
            out[name] = len(col.parts)
        elif col.kind == "text":
            out[name] = 0  # unknown until the vocabulary is built; checked after fit
        elif col.kind == "boolean" or col.encoding == "ordinal":
            out[name] = 1
        elif col.encoding == "target":
            classes = pd.Series(y).nunique() if y is not None else 0
            multi = task_type == "classification" and classes > 2
            out[name] = classes if multi else 1
        else:
            counts = pd.Series(_as_category_text(frame[[name]])[:, 0]).value_counts()
            limit = col.min_frequency or 0
            if isinstance(limit, float):
                limit *= len(frame)
            frequent = int((counts >= limit).sum())
            width = frequent + int(frequent < len(counts))
            if col.max_categories is not None:
                width = min(width, col.max_categories)
            out[name] = width
    for a, b in fs.interactions:
        out[f"{a}*{b}"] = 1
    return out


def _guard(
    by_column: dict[str, int], limit: int, fs: FeatureSpec, *, fitted: bool
) -> None:
    total = sum(by_column.values())
    if total <= limit:
        return
    culprit = max(by_column, key=by_column.get)
    field = f"columns.{culprit}"
    advice = "drop it or encode it differently"
    col = fs.columns.get(culprit)
    if col is None:
        pairs = [f"{a}*{b}" for a, b in fs.interactions]
        field = f"interactions.{pairs.index(culprit)}"
        advice = "remove some interactions"
    elif col.kind == "categorical":
        advice = (
            "raise min_frequency, set max_categories, or use ordinal or target "
            "encoding (or drop it if it is an identifier)"
        )
    elif col.kind == "text":
        advice = "lower max_features"
    elif col.kind == "numeric":
        advice = "use fewer bins"
    verb = "gives" if fitted else "would give"
    raise SpecError(
        f"{field}: the features {verb} {total:,} columns, more than the limit of "
        f"{limit:,}; {culprit!r} alone {verb} {by_column[culprit]:,}. To fix it, "
        f"{advice}.",
        field=field,
    )


def preview_features(
    spec: FeatureSpec | dict,
    frame_train: pd.DataFrame,
    y_train: Any = None,
    *,
    task_type: str,
    max_features_out: int = DEFAULT_MAX_FEATURES_OUT,
    sample_rows: int = 5,
    random_state: int = 0,
) -> dict:
    """Fit the compiled features on the training rows and describe the output.

    Parameters
    ----------
    spec : dict or FeatureSpec
        The feature spec.
    frame_train : pandas.DataFrame
        The training rows only (fitting sees nothing else). Extra columns, such as
        the target, are ignored.
    y_train : array-like, optional
        Training target; needed when a column uses target encoding.
    task_type : {"classification", "regression", "clustering"}
        The problem's task type.
    max_features_out : int, default=2000
        Most output columns allowed; the spec's own ``max_features_out`` can only
        lower it.
    sample_rows : int, default=5
        How many transformed rows to return.
    random_state : int, default=0
        Passed to :func:`compile_features`.

    Returns
    -------
    dict
        ``n_features_out``, ``feature_names`` (list), ``shape`` ([rows, cols]),
        ``sample`` (first rows as lists of floats rounded to 4 decimals; target
        encoded columns show the cross-fitted values training sees) and
        ``by_column`` (output columns per spec column, interactions as ``a*b``).

    Raises
    ------
    SpecError
        Malformed spec, a column missing from ``frame_train``, target encoding
        without ``y_train``, a fit that fails on these data, or more output columns
        than allowed (``field`` names the column giving the most).
    """
    fs = _model(spec)
    _check_spec(fs, task_type)
    for name, col in fs.features().items():
        field = f"columns.{name}"
        if name not in frame_train.columns:
            raise SpecError(
                f"{field}: the training data have no column {name!r}.", field=field
            )
        if col.kind == "categorical" and col.encoding == "target" and y_train is None:
            raise SpecError(
                f"{field}.encoding: target encoding of {name!r} needs the target "
                "values of the training rows.",
                field=f"{field}.encoding",
            )
        if col.kind == "text" and not _fill_text(frame_train[name]).str.strip().any():
            raise SpecError(
                f"{field}.kind: column {name!r} has no text in the training rows to "
                "build TF-IDF features from.",
                field=f"{field}.kind",
            )
    limit = min(max_features_out, fs.max_features_out or max_features_out)
    _guard(_estimate(fs, frame_train, y_train, task_type), limit, fs, fitted=False)

    blocks = _blocks(fs, task_type, random_state)
    ct = _column_transformer(blocks, sparse_threshold=0.3)
    try:
        matrix = ct.fit_transform(frame_train, y_train)
    except ValueError as exc:
        # The data can defeat a valid spec; say so where the spec is edited.
        raise SpecError(
            f"columns: the features could not be built from these data: {exc}",
            field="columns",
        ) from exc
    # Unprefixed names can collide (column "city_a" and level "a" of "city"); the
    # prefixed ones say which transformers, hence which columns, are involved.
    ct.set_params(verbose_feature_names_out=True)
    prefixed = [str(n).split("__", 1) for n in ct.get_feature_names_out()]
    ct.set_params(verbose_feature_names_out=False)
    names = [feature for _, feature in prefixed]
    clashes = sorted(n for n, k in Counter(names).items() if k > 1)
    by_column: dict[str, int] = {}
    owners: dict[str, tuple[str, ...]] = {}
    for name, _, _, sources in blocks:
        span = ct.output_indices_[name]
        owners[name] = sources
        for source in sources:
            by_column[source] = (span.stop - span.start) // len(sources)
    if clashes:
        sources = sorted({_owner(owners[t], f) for t, f in prefixed if f == clashes[0]})
        raise SpecError(
            f"columns: {' and '.join(map(repr, sources))} would both produce a "
            f"feature named {clashes[0]!r}; rename or drop one of them.",
            field="columns",
        )
    _guard(by_column, limit, fs, fitted=True)

    head = matrix[:sample_rows]
    head = head.toarray() if sparse.issparse(head) else np.asarray(head, "float64")
    sample = [
        [round(float(v), 4) if math.isfinite(v) else None for v in row] for row in head
    ]
    return {
        "n_features_out": int(matrix.shape[1]),
        "feature_names": names,
        "shape": [int(matrix.shape[0]), int(matrix.shape[1])],
        "sample": sample,
        "by_column": by_column,
    }


# ------------------------------------------------------------------ suggest


def _codes(column: dict) -> set[str]:
    return {w.get("code") for w in column.get("warnings") or []}


def _has_time(stats: dict | None) -> bool:
    for key in ("min", "max"):
        value = (stats or {}).get(key)
        if (
            isinstance(value, str)
            and "T" in value
            and value.split("T", 1)[1][:8] not in ("00:00:00", "00:00")
        ):
            return True
    return False


def _suggest_one(column: dict, task_type: str) -> tuple[Any, str]:
    kind, codes = column.get("kind"), _codes(column)
    distinct = column.get("distinct") or 0
    if kind == "identifier":
        return DropSpec(), "Looks like an identifier; it will not help a model."
    if distinct == 0:
        return DropSpec(), "Every value is missing."
    if "constant" in codes or distinct == 1:
        return DropSpec(), "A single value in every row; it carries no information."
    if kind == "numeric":
        stats = column.get("stats") or {}
        skew, low = stats.get("skew"), stats.get("min")
        missing = (column.get("missing_share") or 0) >= INDICATOR_SHARE
        transform, scaler, notes = "none", "standard", []
        if skew is not None and abs(skew) > SKEW_LIMIT:
            positive = skew > 0 and low is not None and low >= 0
            transform = "log" if positive else "yeo-johnson"
            notes.append(f"{transform} for the skew of {skew:.1f}")
        # Outliers of a skewed column are mostly its long tail, which the
        # transform already pulls in.
        if "outliers" in codes and transform == "none":
            scaler = "robust"
            notes.append("robust scaling for outliers")
        else:
            notes.append("standard scaling")
        if missing:
            notes.append("a missing indicator")
        spec = NumericSpec(transform=transform, scaler=scaler, add_indicator=missing)
        return spec, "Numeric: median imputation, " + ", ".join(notes) + "."
    if kind == "categorical":
        if distinct > HIGH_CARDINALITY:
            if task_type == "clustering":
                return CategoricalSpec(encoding="ordinal"), (
                    f"{distinct:,} categories: ordinal codes (too many for one-hot; "
                    "clustering has no target to encode with)."
                )
            return CategoricalSpec(encoding="target"), (
                f"{distinct:,} categories: cross-fitted target encoding (too many "
                "for one-hot)."
            )
        return CategoricalSpec(), (
            f"{distinct:,} categories: one-hot, categories under 1% of rows grouped."
        )
    if kind == "datetime":
        parts = ["year", "month", "day", "dayofweek"]
        parts += ["hour"] if _has_time(column.get("stats")) else []
        parts += ["is_weekend", "days_since"]
        return DatetimeSpec(parts=parts, scaler="standard"), (
            "Date: calendar parts and days since the earliest date, standardised."
        )
    if kind == "text":
        return TextSpec(), "Free text: TF-IDF of the 200 most frequent words."
    if kind == "boolean":
        return BooleanSpec(), "Yes/no: 0/1, missing values get the most frequent."
    return DropSpec(), f"Unknown kind {kind!r}; left out."


def suggest_features(profile: dict, *, target: str | None, task_type: str) -> dict:
    """Propose a feature spec from a table profile.

    Parameters
    ----------
    profile : dict
        What :func:`projects.ml.profiling.profile_table` returned.
    target : str or None
        The target column, left out of ``columns`` (None for clustering).
    task_type : {"classification", "regression", "clustering"}
        High-cardinality categories get target encoding for classification and
        regression, ordinal codes for clustering.

    Returns
    -------
    dict
        A spec as JSON data with every option spelled out, one entry per column
        but the target, and ``reasons``: one line per column saying why.
    """
    _check_task(task_type)
    columns: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for column in profile.get("columns", []):
        name = column["name"]
        if name == target:
            continue
        columns[name], reasons[name] = _suggest_one(column, task_type)
    spec = FeatureSpec(columns=columns, reasons=reasons)
    return spec.model_dump(mode="json")
