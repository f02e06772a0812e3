"""Cleaning recipes: data a user edits, applied by one function.

A recipe is JSON: ``{"version": 1, "steps": [{"op": ..., ...}, ...]}``, validated
by the pydantic models below (:func:`validate_recipe`). :func:`apply_recipe` is the
only code that runs one, in the preview, in the preparation job, at retraining and
(``serving=True``) on incoming rows.

Steps that learn something from the data (an imputation value, outlier bounds, the
categories kept by rare-category grouping, a date format) record it in the step's
``fitted`` field when applied with ``refit=True``; the stored recipe of a prepared
dataset version keeps those values, so applying it again with ``refit=False`` does
exactly the same thing to new rows. Applying a fitted recipe to its own output
changes nothing (idempotent), and no step ever adds rows.

With ``serving=True`` the steps that remove rows (drop rows with a missing value,
deduplicate, filter, remove outliers) are skipped: a prediction request must get an
answer for every row it sent.

Pure pandas (and pyarrow.compute on Arrow-backed text) + pydantic: never imports
Django.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc
from pandas.api import types as ptypes
from pandas.tseries.api import guess_datetime_format
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from projects.ml.errors import SpecError, spec_error_from_pydantic
from projects.ml.profiling import MISSING_TOKENS

__all__ = [
    "OPS",
    "Recipe",
    "apply_recipe",
    "column_kinds_after",
    "suggest_merges",
    "suggest_recipe",
    "validate_recipe",
]

MAX_STEPS = 100
MAX_LIST = 10_000
STRING_KINDS = frozenset({"categorical", "text", "identifier", "boolean"})
# Suggestions: only columns with at most this many distinct values get merge groups,
# and categories below this share of rows are "rare".
MAX_MERGE_LEVELS = 200
RARE_SHARE = 0.01
RARE_MIN_LEVELS = 20
_NUMBER_NOISE = re.compile(r"[\s,$€£¥]")
_MERGE_KEY_NOISE = re.compile(r"[\s._\-/]+")


# ---------------------------------------------------------------------------
# The schema
# ---------------------------------------------------------------------------

Name = Annotated[str, Field(min_length=1, max_length=255)]
Scalar = str | int | float | bool | None


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    reason: str = Field("", max_length=500)
    # What the step learned the last time it was applied with refit=True.
    fitted: dict[str, Any] | None = None


class DropColumns(_Step):
    op: Literal["drop_columns"]
    columns: list[Name] = Field(min_length=1, max_length=MAX_LIST)


class MissingTokens(_Step):
    """Turn placeholders ("N/A", "?", -999, ...) into real missing values."""

    op: Literal["missing_tokens"]
    columns: list[Name] = Field(min_length=1, max_length=MAX_LIST)
    tokens: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=lambda: sorted(MISSING_TOKENS), max_length=100
    )
    numbers: list[float] = Field(default_factory=list, max_length=100)


class Impute(_Step):
    op: Literal["impute"]
    column: Name
    strategy: Literal["drop_rows", "mean", "median", "most_frequent", "constant"]
    value: Scalar = None
    add_indicator: bool = False

    @model_validator(mode="after")
    def _constant_needs_value(self) -> Impute:
        if self.strategy == "constant" and self.value in (None, ""):
            raise ValueError("a constant imputation needs a value")
        return self


class Deduplicate(_Step):
    op: Literal["deduplicate"]
    key: list[Name] | None = Field(None, min_length=1, max_length=MAX_LIST)
    keep: Literal["first", "last"] = "first"


class TrimWhitespace(_Step):
    op: Literal["trim_whitespace"]
    columns: list[Name] = Field(min_length=1, max_length=MAX_LIST)


class UnifyCase(_Step):
    op: Literal["unify_case"]
    columns: list[Name] = Field(min_length=1, max_length=MAX_LIST)
    case: Literal["lower", "upper", "title"] = "lower"


class MergeCategories(_Step):
    """Merge spelling variants: ``groups`` maps the kept value to its variants."""

    op: Literal["merge_categories"]
    column: Name
    groups: dict[str, list[str]] = Field(min_length=1, max_length=MAX_LIST)


class MapValues(_Step):
    op: Literal["map_values"]
    column: Name
    mapping: dict[str, Scalar] = Field(min_length=1, max_length=MAX_LIST)


class ToNumber(_Step):
    """Parse numbers stored as text: "1,234", "$5", "12%", " 7 "."""

    op: Literal["to_number"]
    column: Name
    percent: Literal["number", "fraction"] = "number"


class ParseDates(_Step):
    op: Literal["parse_dates"]
    column: Name
    format: str | None = Field(None, max_length=64)


class Outliers(_Step):
    op: Literal["outliers"]
    column: Name
    method: Literal["iqr", "percentile"] = "iqr"
    k: float = Field(1.5, gt=0, le=10)
    lower: float = Field(0.01, ge=0, lt=0.5)
    upper: float = Field(0.99, gt=0.5, le=1)
    action: Literal["flag", "clip", "remove"] = "clip"


class RareCategories(_Step):
    op: Literal["rare_categories"]
    column: Name
    min_share: float = Field(RARE_SHARE, gt=0, lt=0.5)
    other: str = Field("other", min_length=1, max_length=64)


_VALUE_OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge")
_LIST_OPERATORS = ("in", "not_in")
_NO_VALUE_OPERATORS = ("is_missing", "not_missing")


class FilterRows(_Step):
    """Keep the rows where ``column <operator> value`` holds."""

    op: Literal["filter_rows"]
    column: Name
    operator: Literal[
        "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_missing", "not_missing"
    ]
    value: Scalar | list[Scalar] = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> FilterRows:
        is_list = isinstance(self.value, list)
        if self.operator in _LIST_OPERATORS and not (is_list and self.value):
            raise ValueError(f"'{self.operator}' needs a non-empty list of values")
        if self.operator in _VALUE_OPERATORS and (is_list or self.value in (None, "")):
            raise ValueError(f"'{self.operator}' needs a single value")
        return self


Step = Annotated[
    DropColumns
    | MissingTokens
    | Impute
    | Deduplicate
    | TrimWhitespace
    | UnifyCase
    | MergeCategories
    | MapValues
    | ToNumber
    | ParseDates
    | Outliers
    | RareCategories
    | FilterRows,
    Field(discriminator="op"),
]


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    steps: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)


OPS: dict[str, str] = {
    "drop_columns": "Drop columns",
    "missing_tokens": "Placeholders to missing",
    "impute": "Missing values",
    "deduplicate": "Remove duplicates",
    "trim_whitespace": "Trim whitespace",
    "unify_case": "Unify case",
    "merge_categories": "Merge spelling variants",
    "map_values": "Map values",
    "to_number": "Text to number",
    "parse_dates": "Parse dates",
    "outliers": "Outliers",
    "rare_categories": "Group rare categories",
    "filter_rows": "Filter rows",
}


def _removes_rows(step: Any) -> bool:
    """Steps skipped at serving: a prediction request needs every row answered."""
    if step.op == "impute":
        return step.strategy == "drop_rows"
    if step.op == "outliers":
        return step.action == "remove"
    return step.op in ("deduplicate", "filter_rows")


# ---------------------------------------------------------------------------
# Validation against the data's columns
# ---------------------------------------------------------------------------


def validate_recipe(recipe: Any, *, columns: dict[str, str]) -> Recipe:
    """Check a recipe's shape, and that every step fits the columns it names.

    Columns are followed through the steps: a column dropped by step 1 cannot be
    imputed by step 3, and ``to_number`` makes a text column numeric for the steps
    after it.

    Parameters
    ----------
    recipe : dict or Recipe
        The recipe as JSON data.
    columns : dict of str to str
        The input's columns and their profile kinds (numeric, categorical, boolean,
        datetime, text, identifier).

    Returns
    -------
    Recipe

    Raises
    ------
    SpecError
        Naming the step and field, e.g. ``steps.2.column``.
    """
    if isinstance(recipe, Recipe):
        parsed = recipe
    else:
        if not isinstance(recipe, dict):
            raise SpecError("recipe: expected a JSON object", field="recipe")
        try:
            parsed = Recipe.model_validate(recipe)
        except ValidationError as exc:
            raise spec_error_from_pydantic(exc, tags=OPS) from None
    column_kinds_after(parsed, columns)
    return parsed


def column_kinds_after(recipe: Recipe, columns: dict[str, str]) -> dict[str, str]:
    """The columns and kinds a recipe leaves, checking each step on the way.

    Parameters
    ----------
    recipe : Recipe
        A parsed recipe.
    columns : dict of str to str
        The input's columns and kinds, as for :func:`validate_recipe`.

    Returns
    -------
    dict of str to str
        The output's columns and kinds.

    Raises
    ------
    SpecError
        As :func:`validate_recipe`.
    """
    kinds = dict(columns)
    dropped: dict[str, int] = {}
    for i, step in enumerate(recipe.steps):
        if step.enabled:
            _check_step(i, step, kinds, dropped)
    return kinds


def _fail(i: int, step: _Step, field: str, message: str) -> SpecError:
    label = OPS[step.op]  # type: ignore[attr-defined]
    return SpecError(f"Step {i + 1} ({label}): {message}", field=f"steps.{i}.{field}")


def _check_step(i: int, step: Any, kinds: dict[str, str], dropped: dict) -> None:
    def need(name: str, field: str, allowed: frozenset[str] | None = None) -> str:
        if name not in kinds:
            if name in dropped:
                why = f"it was dropped by step {dropped[name] + 1}"
            else:
                why = "there is no such column"
            raise _fail(i, step, field, f"column {name!r} cannot be used: {why}.")
        kind = kinds[name]
        if allowed is not None and kind not in allowed:
            raise _fail(
                i,
                step,
                field,
                f"column {name!r} is {kind}; this step needs "
                f"{' or '.join(sorted(allowed))} data.",
            )
        return kind

    numeric = frozenset({"numeric"})
    op = step.op
    if op == "drop_columns":
        for j, name in enumerate(step.columns):
            need(name, f"columns.{j}")
            del kinds[name]
            dropped[name] = i
    elif op == "deduplicate":
        for j, name in enumerate(step.key or []):
            need(name, f"key.{j}")
    elif op in ("missing_tokens", "trim_whitespace", "unify_case"):
        allowed = None if op == "missing_tokens" else STRING_KINDS
        for j, name in enumerate(step.columns):
            need(name, f"columns.{j}", allowed)
    elif op == "impute":
        kind = need(step.column, "column")
        if step.strategy in ("mean", "median") and kind != "numeric":
            raise _fail(
                i,
                step,
                "strategy",
                f"{step.strategy} needs a numeric column; {step.column!r} is {kind}.",
            )
        if (
            step.strategy == "constant"
            and kind == "numeric"
            and _as_float(step.value) is None
        ):
            raise _fail(i, step, "value", f"{step.column!r} is numeric: give a number.")
        if step.add_indicator:
            kinds[f"{step.column}_was_missing"] = "boolean"
    elif op in ("merge_categories", "rare_categories"):
        need(step.column, "column", STRING_KINDS)
    elif op == "map_values":
        need(step.column, "column")
    elif op == "to_number":
        need(step.column, "column", STRING_KINDS)
        kinds[step.column] = "numeric"
    elif op == "parse_dates":
        # The profile calls text that holds dates "datetime" already.
        need(step.column, "column", STRING_KINDS | {"datetime"})
        kinds[step.column] = "datetime"
    elif op == "outliers":
        need(step.column, "column", numeric)
        if step.action == "flag":
            kinds[f"{step.column}_outlier"] = "boolean"
    elif op == "filter_rows":
        kind = need(step.column, "column")
        if step.operator in ("lt", "le", "gt", "ge") and kind not in (
            "numeric",
            "datetime",
        ):
            raise _fail(
                i,
                step,
                "operator",
                f"'{step.operator}' compares numbers or dates; {step.column!r} is "
                f"{kind}.",
            )
        values = step.value if isinstance(step.value, list) else [step.value]
        if kind == "numeric" and step.operator not in _NO_VALUE_OPERATORS:
            for value in values:
                if _as_float(value) is None:
                    raise _fail(
                        i,
                        step,
                        "value",
                        f"{value!r} is not a number; {step.column!r} is numeric.",
                    )
        if kind == "datetime" and step.operator not in _NO_VALUE_OPERATORS:
            for value in values:
                if _as_timestamp(value) is None:
                    raise _fail(i, step, "value", f"{value!r} is not a date.")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _as_timestamp(value: Any) -> pd.Timestamp | None:
    try:
        out = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if pd.isna(out) else out


# ---------------------------------------------------------------------------
# Applying
# ---------------------------------------------------------------------------


def apply_recipe(
    df: pd.DataFrame,
    recipe: Recipe,
    *,
    refit: bool = True,
    serving: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[pd.DataFrame, Recipe, list[dict]]:
    """Apply a validated recipe; the one function every caller uses.

    Parameters
    ----------
    df : pandas.DataFrame
        The input; it is not modified.
    recipe : Recipe
        From :func:`validate_recipe`.
    refit : bool, default True
        Learn imputation values, bounds and kept categories from ``df``. With False,
        use the values recorded in each step's ``fitted`` (new data at retraining,
        rows at serving).
    serving : bool, default False
        Skip the steps that remove rows.
    progress : callable, optional
        Called as ``progress(done, total, label)`` after each step.

    Returns
    -------
    frame : pandas.DataFrame
        The cleaned data; its index is the input's index of the rows kept.
    fitted : Recipe
        The recipe with each step's ``fitted`` values filled in.
    report : list of dict
        Per step: ``op``, ``label``, ``enabled``, ``rows_before``, ``rows_after``,
        ``rows_removed``, ``values_changed``, ``columns_added``,
        ``columns_removed``, ``missing_before``, ``missing_after`` (cells, in the
        step's columns), ``seconds`` and a one-line ``summary``.

    Raises
    ------
    SpecError
        When ``refit=False`` and a step has never been fitted.
    """
    out = df.copy(deep=False)
    steps: list[Any] = []
    report: list[dict] = []
    total = len(recipe.steps)
    for i, step in enumerate(recipe.steps):
        label = OPS[step.op]
        skip = not step.enabled or (serving and _removes_rows(step))
        entry: dict[str, Any] = {
            "index": i,
            "op": step.op,
            "label": label,
            "enabled": not skip,
            "rows_before": len(out),
        }
        if skip:
            steps.append(step)
            entry.update(rows_after=len(out), rows_removed=0, values_changed=0)
            entry["summary"] = "Switched off." if not step.enabled else "Skipped."
            report.append(entry)
            continue
        if not refit and _learns(step) and step.fitted is None:
            raise _fail(i, step, "fitted", "this step was never applied to data.")
        started = time.perf_counter()
        touched = [c for c in _columns_of(step) if c in out.columns]
        entry["missing_before"] = _missing_cells(out, touched)
        before_cols = list(out.columns)
        out, fitted, changed, summary = _APPLY[step.op](out, step, refit)
        steps.append(step.model_copy(update={"fitted": fitted}))
        entry.update(
            rows_after=len(out),
            rows_removed=entry["rows_before"] - len(out),
            values_changed=int(changed),
            columns_added=[c for c in out.columns if c not in set(before_cols)],
            columns_removed=[c for c in before_cols if c not in set(out.columns)],
            missing_after=_missing_cells(out, [c for c in touched if c in out.columns]),
            summary=summary,
            seconds=round(time.perf_counter() - started, 4),
        )
        report.append(entry)
        if progress is not None:
            progress(i + 1, total, label)
    return out, Recipe(steps=steps), report


_LEARNS = frozenset({"impute", "outliers", "rare_categories", "parse_dates"})


def _learns(step: Any) -> bool:
    # Dropping the rows with a missing value learns nothing (its fitted is None).
    if step.op == "impute" and step.strategy == "drop_rows":
        return False
    return step.op in _LEARNS


def _missing_cells(df: pd.DataFrame, names: list[str]) -> int:
    """Missing cells in these columns (``df[names].isna().sum().sum()``, without
    copying the columns into a new frame)."""
    return sum(int(df[name].isna().to_numpy().sum()) for name in names)


def _columns_of(step: Any) -> list[str]:
    if hasattr(step, "column"):
        return [step.column]
    return list(getattr(step, "columns", None) or [])


def _changed(before: pd.Series, after: pd.Series) -> int:
    """Cells whose value changed (missing to missing is no change)."""
    if before.dtype != after.dtype:
        return int(before.notna().sum())
    if isinstance(before.dtype, pd.StringDtype) and before.dtype.storage == "pyarrow":
        # Arrow text, compared in Arrow: a differing pair, or one side missing.
        x, y = before.array.__arrow_array__(), after.array.__arrow_array__()
        differ = pc.sum(pc.not_equal(x, y)).as_py() or 0
        one_missing = pc.sum(pc.xor(pc.is_null(x), pc.is_null(y))).as_py() or 0
        return int(differ + one_missing)
    same = (before == after).fillna(False).to_numpy(dtype=bool) | (
        before.isna().to_numpy() & after.isna().to_numpy()
    )
    return int((~same).sum())


def _text(series: pd.Series) -> pd.Series:
    if ptypes.is_string_dtype(series.dtype) and not ptypes.is_object_dtype(
        series.dtype
    ):
        return series
    return series.astype("str").where(series.notna())


def _spread(codes: np.ndarray, values: np.ndarray, fill: Any) -> np.ndarray:
    """Values per row from values per distinct value (``pd.factorize`` codes)."""
    if not len(values):
        return np.full(
            len(codes), fill, dtype=values.dtype if fill is not np.nan else object
        )
    return np.where(codes >= 0, values[np.maximum(codes, 0)], fill)


def _map_uniques(series: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply a vectorised string function to the distinct values only, then spread.

    Arrow-backed text is fast enough whole (the string kernels run in C++), and
    rebuilding it from Python objects would cost more than it saves.
    """
    text = _text(series)
    if getattr(text.dtype, "storage", None) == "pyarrow":
        return fn(text)
    codes, uniques = pd.factorize(text)
    mapped = fn(pd.Series(uniques, dtype="str"))
    values = mapped.to_numpy(dtype=object, na_value=np.nan)
    taken = _spread(codes, values, np.nan)
    return pd.Series(taken, index=series.index, dtype="str")


def _apply_drop_columns(df, step, refit):
    # Already absent (a fitted recipe applied again, rows at serving) is fine.
    present = [c for c in step.columns if c in df.columns]
    return df.drop(columns=present), None, 0, f"Dropped {len(present)} column(s)."


def _apply_missing_tokens(df, step, refit):
    tokens = {t.strip().lower() for t in step.tokens}
    numbers = np.asarray(step.numbers, dtype="float64")
    changed = 0
    for name in step.columns:
        s = df[name]
        if ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype):
            if len(numbers):
                hit = np.isin(s.to_numpy(dtype="float64", na_value=np.nan), numbers)
                if hit.any():
                    df[name] = s.where(~hit)
                    changed += int(hit.sum())
        elif ptypes.is_string_dtype(s.dtype) or ptypes.is_object_dtype(s.dtype):
            text = _text(s)
            uniques = pd.Series(text.dropna().unique(), dtype="str")
            normal = uniques.str.strip().str.lower()
            as_number = pd.to_numeric(normal, errors="coerce")
            bad = normal.isin(tokens) | (
                as_number.isin(numbers) if len(numbers) else False
            )
            if bad.any():
                hit = text.isin(uniques[bad])
                df[name] = text.where(~hit)
                changed += int(hit.sum())
    return df, None, changed, f"{changed:,} placeholder value(s) turned into missing."


def _apply_impute(df, step, refit):
    name = step.column
    s = df[name]
    missing = s.isna()
    n_missing = int(missing.sum())
    if step.strategy == "drop_rows":
        return (
            df[~missing.to_numpy()],
            None,
            0,
            f"Removed {n_missing:,} row(s) with {name!r} missing.",
        )
    indicator = f"{name}_was_missing"
    if step.add_indicator:
        # OR with an existing indicator keeps the step idempotent.
        previous = df[indicator] if indicator in df.columns else False
        df[indicator] = missing | previous
    if refit:
        value = _fill_value(s, step)
        fitted = {"value": value}
    else:
        fitted = step.fitted
        value = fitted["value"]
    if value is None or not n_missing:
        return df, fitted, 0, f"{name!r}: nothing to fill."
    if ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype):
        value = float(value)
    elif ptypes.is_datetime64_any_dtype(s.dtype):
        value = pd.Timestamp(value)
    else:
        value = str(value) if not isinstance(value, bool) else value
        s = _text(s) if isinstance(value, str) else s
    df[name] = s.fillna(value)
    return (
        df,
        fitted,
        n_missing,
        f"Filled {n_missing:,} missing {name!r} with {_shown(value)}.",
    )


def _shown(value: Any) -> str:
    # The stored value keeps full precision; the summary line is for people.
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return repr(value)


def _fill_value(s: pd.Series, step: Any) -> Any:
    if step.strategy == "constant":
        return step.value
    if step.strategy == "median" and s.dtype == np.float64:
        # The median of the values present either way, without copying them first.
        return None if s.isna().all() else float(s.median())
    if step.strategy == "most_frequent":
        # value_counts leaves missing values out, in the same order.
        counts = s.value_counts(dropna=True)
        # (A categorical lists its unused categories too, with a count of 0.)
        return _plain(counts.index[0]) if len(counts) and counts.iloc[0] else None
    present = s.dropna()
    if not len(present):
        return None
    if step.strategy == "mean":
        return float(present.mean())
    return float(present.median())


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _apply_deduplicate(df, step, refit):
    dup = _duplicated(df, step.key, step.keep)
    n = int(dup.sum())
    on = f" on {', '.join(step.key)}" if step.key else ""
    # Nothing to remove: the frame as it is (taking every row would copy it all).
    kept = df[~dup] if n else df
    return kept, None, 0, f"Removed {n:,} duplicate row(s){on}."


def _duplicated(df: pd.DataFrame, key: list[str] | None, keep: str) -> np.ndarray:
    """``df.duplicated(subset=key, keep=keep)`` as a numpy mask, the same answer.

    pandas factorizes every column, text included, which is most of the cost on a
    wide table. Rows equal on every column are equal on their numeric, boolean and
    date cells, so only the rows repeating there (:func:`repeat_candidates`) can be
    duplicates; pandas decides among those (in their order, so "first" and "last"
    mean the same).
    """
    frame = df if key is None else df[key]
    candidates = None if frame.columns.has_duplicates else repeat_candidates(frame)
    if candidates is None or candidates.size > len(df) // 2:
        return df.duplicated(subset=key, keep=keep).to_numpy()
    dup = np.zeros(len(df), dtype=bool)
    if candidates.size:
        among = df.iloc[candidates].duplicated(subset=key, keep=keep)
        dup[candidates] = among.to_numpy()
    return dup


_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection
_SHIFT = np.uint64(31)
_NAN_KEY = np.array([np.nan], dtype=np.float64).view(np.uint64)[0]


def _value_keys(values: np.ndarray) -> np.ndarray:
    """One uint64 per cell, equal for every pair of cells pandas counts as equal.

    Floats by their bits, with every NaN alike and -0.0 as 0.0 (pandas' hash
    tables do the same); integers, booleans and dates by their value.
    """
    kind = values.dtype.kind
    if kind == "f":
        floats = values.astype(np.float64, copy=False)
        keys = (floats + 0.0).view(np.uint64)  # a new array; -0.0 + 0.0 is 0.0
        nan = np.isnan(floats)
        if nan.any():
            keys[nan] = _NAN_KEY
        return keys
    if kind in "mM":
        return values.view(np.int64).view(np.uint64)
    return values.astype(np.uint64)


def repeat_candidates(df: pd.DataFrame) -> np.ndarray | None:
    """Positions of the rows that may have an exact copy elsewhere in ``df``.

    A row can equal another only if its numeric, boolean and date cells (numpy
    dtypes) do. Those cells are mixed into one 64-bit key per row, a few columns
    at a time, and only the rows whose key still repeats go on to the next
    columns (rows unique on some columns are unique). Mixing can put together rows
    that differ (a few more candidates), never tell equal rows apart, so every row
    left out is unique.

    Parameters
    ----------
    df : pandas.DataFrame

    Returns
    -------
    numpy.ndarray of intp or None
        The candidates' positions, in order; None when no column has such cells
        (text only).
    """
    cheap = [
        j
        for j, dtype in enumerate(df.dtypes)
        if isinstance(dtype, np.dtype) and dtype.kind in "biufmM"
    ]
    if not cheap:
        return None
    rows = None  # None: all of them
    mixed = np.zeros(len(df), dtype=np.uint64)
    for first in range(0, len(cheap), _KEY_BATCH):
        for j in cheap[first : first + _KEY_BATCH]:
            values = df.iloc[:, j].to_numpy()
            mixed ^= _value_keys(values if rows is None else values[rows])
            mixed *= _MIX
            mixed ^= mixed >> _SHIFT
        repeats = _repeating(mixed)
        rows = repeats if rows is None else rows[repeats]
        if not rows.size:
            break
        mixed = mixed[repeats]
    return rows


_KEY_BATCH = 4  # columns mixed before the rows already unique are set aside
_LOOKUP_MAX = 1 << 16  # repeated keys looked up; more go through a hash table


def _repeating(keys: np.ndarray) -> np.ndarray:
    """Positions of the keys that occur more than once, in order."""
    ordered = np.sort(keys)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.empty(0, dtype=np.intp)
    repeated = np.unique(ordered[1:][same])
    if repeated.size > _LOOKUP_MAX:
        return np.flatnonzero(pd.Series(keys).duplicated(keep=False).to_numpy())
    # A table of the repeated keys' low bits sets most keys aside at a glance; the
    # few left are looked up.
    bits = min(max((repeated.size * 8).bit_length(), 10), 24)
    low = np.uint64((1 << bits) - 1)
    table = np.zeros(1 << bits, dtype=bool)
    table[repeated & low] = True
    maybe = np.flatnonzero(table[keys & low])
    found = keys[maybe]
    at = np.minimum(np.searchsorted(repeated, found), repeated.size - 1)
    return maybe[repeated[at] == found]


def _apply_trim_whitespace(df, step, refit):
    changed = 0
    for name in step.columns:
        before = df[name]
        after = _map_uniques(before, lambda u: u.str.strip())
        changed += _changed(_text(before), after)
        df[name] = after
    return df, None, changed, f"Trimmed {changed:,} value(s)."


def _apply_unify_case(df, step, refit):
    changed = 0
    for name in step.columns:
        before = df[name]
        after = _map_uniques(before, lambda u: getattr(u.str, step.case)())
        changed += _changed(_text(before), after)
        df[name] = after
    return df, None, changed, f"Changed the case of {changed:,} value(s)."


def _replace(df: pd.DataFrame, name: str, mapping: dict) -> int:
    before = df[name]
    if ptypes.is_numeric_dtype(before.dtype) or ptypes.is_bool_dtype(before.dtype):
        # Keys arrive as JSON strings; match them against the values' text.
        codes, uniques = pd.factorize(before)
        labels = pd.Series(uniques).astype("str")
        values = pd.Series(uniques, dtype=object)
        hit = labels.isin(list(mapping)).to_numpy()
        values[hit] = labels[hit].map(mapping)
        after = pd.Series(
            _spread(codes, values.to_numpy(), np.nan),
            index=before.index,
        ).infer_objects()
    else:
        text = _text(before)
        after = text.replace(mapping)
    changed = (
        _changed(before, after)
        if after.dtype == before.dtype
        else int((before.astype("str") != after.astype("str")).sum())
    )
    df[name] = after
    return changed


def _apply_merge_categories(df, step, refit):
    mapping = {
        variant: keep
        for keep, variants in step.groups.items()
        for variant in variants
        if variant != keep
    }
    changed = _replace(df, step.column, mapping)
    return (
        df,
        None,
        changed,
        f"Merged {len(mapping)} variant(s) of {step.column!r} into "
        f"{len(step.groups)} value(s); {changed:,} cell(s) changed.",
    )


def _apply_map_values(df, step, refit):
    changed = _replace(df, step.column, step.mapping)
    return df, None, changed, f"Mapped {changed:,} value(s) of {step.column!r}."


def _apply_to_number(df, step, refit):
    name = step.column
    before = df[name]
    if ptypes.is_numeric_dtype(before.dtype) and not ptypes.is_bool_dtype(before.dtype):
        return df, None, 0, f"{name!r} is already numeric."
    divide = 100.0 if step.percent == "fraction" else 1.0

    def parse(u: pd.Series) -> pd.Series:
        stripped = u.str.replace(_NUMBER_NOISE, "", regex=True)
        percent = stripped.str.endswith("%")
        value = pd.to_numeric(stripped.str.removesuffix("%"), errors="coerce")
        return value.where(~percent, value / divide)

    codes, uniques = pd.factorize(_text(before))
    values = parse(pd.Series(uniques, dtype="str")).to_numpy(dtype="float64")
    after = pd.Series(
        _spread(codes, values, np.nan),
        index=before.index,
        dtype="float64",
    )
    lost = int((before.notna() & after.isna()).sum())
    df[name] = after
    converted = int(after.notna().sum())
    tail = f"; {lost:,} could not be read and are now missing" if lost else ""
    return df, None, converted, f"Converted {converted:,} value(s) to numbers{tail}."


def _apply_parse_dates(df, step, refit):
    name = step.column
    before = df[name]
    if ptypes.is_datetime64_any_dtype(before.dtype):
        return df, step.fitted, 0, f"{name!r} already holds dates."
    if refit:
        fmt = step.format or _guess_format(before)
        fitted = {"format": fmt}
    else:
        fmt = step.fitted["format"]
        fitted = step.fitted
    codes, uniques = pd.factorize(_text(before).str.strip())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(
            pd.Series(uniques, dtype="str"),
            format=fmt or "mixed",
            errors="coerce",
        )
    values = parsed.to_numpy()
    nat = np.datetime64("NaT", "ns").astype(values.dtype)
    after = pd.Series(
        _spread(codes, values, nat),
        index=before.index,
    )
    lost = int((before.notna() & after.isna()).sum())
    df[name] = after
    converted = int(after.notna().sum())
    shown = f" with format {fmt}" if fmt else ""
    tail = f"; {lost:,} could not be read and are now missing" if lost else ""
    return df, fitted, converted, f"Parsed {converted:,} date(s){shown}{tail}."


def _guess_format(series: pd.Series) -> str | None:
    sample = _text(series).dropna().str.strip()
    sample = sample[sample != ""].head(200)
    for value in sample.head(20):
        with warnings.catch_warnings():
            # "Parsing dates in %d/%m/%Y format when dayfirst=False": the format is
            # checked against the sample right below.
            warnings.simplefilter("ignore")
            fmt = guess_datetime_format(str(value))
            if fmt is None:
                continue
            ok = pd.to_datetime(sample, format=fmt, errors="coerce").notna().mean()
        if ok >= 0.95:
            return fmt
    return None


def _apply_outliers(df, step, refit):
    name = step.column
    s = df[name]
    values = s.to_numpy(dtype="float64", na_value=np.nan)
    if refit:
        finite = values[np.isfinite(values)]
        if not len(finite):
            return df, {"low": None, "high": None}, 0, f"{name!r} has no values."
        if step.method == "iqr":
            q1, q3 = np.quantile(finite, [0.25, 0.75])
            low, high = q1 - step.k * (q3 - q1), q3 + step.k * (q3 - q1)
        else:
            low, high = np.quantile(finite, [step.lower, step.upper])
        fitted = {"low": float(low), "high": float(high)}
    else:
        fitted = step.fitted
    low, high = fitted["low"], fitted["high"]
    if low is None:
        return df, fitted, 0, f"{name!r} has no values."
    outside = (values < low) | (values > high)
    n = int(outside.sum())
    bounds = f"[{low:.4g}, {high:.4g}]"
    if step.action == "flag":
        flag = f"{name}_outlier"
        previous = df[flag].to_numpy(dtype=bool) if flag in df.columns else False
        df[flag] = outside | previous
        return df, fitted, 0, f"Flagged {n:,} value(s) outside {bounds}."
    if step.action == "remove":
        return df[~outside], fitted, 0, f"Removed {n:,} row(s) outside {bounds}."
    df[name] = s.clip(lower=low, upper=high)
    return df, fitted, n, f"Clipped {n:,} value(s) to {bounds}."


def _apply_rare_categories(df, step, refit):
    name = step.column
    text = _text(df[name])
    if refit:
        shares = text.value_counts(normalize=True, dropna=True)
        keep = [str(v) for v in shares.index[shares.to_numpy() >= step.min_share]]
        fitted = {"keep": keep}
    else:
        fitted = step.fitted
    kept = set(fitted["keep"]) | {step.other}
    codes, uniques = pd.factorize(text)
    rare = ~pd.Series(uniques, dtype="str").isin(kept).to_numpy()
    if not rare.any():
        return df, fitted, 0, f"{name!r}: no rare category."
    labels = np.where(rare, step.other, np.asarray(uniques, dtype=object))
    after = pd.Series(
        _spread(codes, labels, np.nan),
        index=text.index,
        dtype="str",
    )
    changed = int(rare[codes[codes >= 0]].sum())
    df[name] = after
    return (
        df,
        fitted,
        changed,
        f"Grouped {int(rare.sum()):,} rare categor(ies) of {name!r} into "
        f"{step.other!r} ({changed:,} cell(s)).",
    )


def _apply_filter_rows(df, step, refit):
    s = df[step.column]
    op = step.operator
    if op == "is_missing":
        keep = s.isna()
    elif op == "not_missing":
        keep = s.notna()
    else:
        values = step.value if isinstance(step.value, list) else [step.value]
        values = [_coerce(v, s) for v in values]
        if op in _LIST_OPERATORS:
            keep = s.isin(values)
            keep = ~keep if op == "not_in" else keep
        else:
            compare = {
                "eq": s.__eq__,
                "ne": s.__ne__,
                "lt": s.__lt__,
                "le": s.__le__,
                "gt": s.__gt__,
                "ge": s.__ge__,
            }[op]
            keep = compare(values[0])
    keep = keep.fillna(False).to_numpy(dtype=bool)
    removed = int((~keep).sum())
    return df[keep], None, 0, f"Removed {removed:,} row(s) not matching the filter."


def _coerce(value: Any, s: pd.Series) -> Any:
    if ptypes.is_bool_dtype(s.dtype):
        return (
            str(value).strip().lower() in ("true", "1", "yes")
            if isinstance(value, str)
            else bool(value)
        )
    if ptypes.is_numeric_dtype(s.dtype):
        return _as_float(value)
    if ptypes.is_datetime64_any_dtype(s.dtype):
        stamp = _as_timestamp(value)
        tz = getattr(s.dtype, "tz", None)
        if stamp is not None and tz is not None and stamp.tzinfo is None:
            stamp = stamp.tz_localize(tz)
        return stamp
    return str(value)


_APPLY: dict[str, Callable] = {op: globals()[f"_apply_{op}"] for op in OPS}


# ---------------------------------------------------------------------------
# Suggestions
# ---------------------------------------------------------------------------


def suggest_merges(series: pd.Series) -> dict[str, list[str]]:
    """Propose groups of spelling variants of one category.

    Values that are equal after case-folding and removing spaces, dots, dashes and
    slashes are one group ("Male", "male ", "MALE"); a one-letter value joins the
    only group whose key starts with that letter ("M" with "male" when no other
    value starts with "m"). The most frequent spelling (trimmed) is kept.

    Parameters
    ----------
    series : pandas.Series
        A text column.

    Returns
    -------
    dict of str to list of str
        Kept value -> the variants merged into it (the kept value's own raw
        spellings included); only groups with more than one spelling.
    """
    counts = _text(series).value_counts(dropna=True)
    if not 1 < len(counts) <= MAX_MERGE_LEVELS:
        return {}
    raw = pd.Series(counts.index, dtype="str")
    keys = raw.str.casefold().str.replace(_MERGE_KEY_NOISE, "", regex=True)
    keys = keys.where(keys != "", raw)
    groups: dict[str, list[int]] = {}
    for pos, key in enumerate(keys):
        groups.setdefault(key, []).append(pos)
    long_keys = [k for k in groups if len(k) > 1]
    for key in [k for k in groups if len(k) == 1]:
        matches = [k for k in long_keys if k.startswith(key)]
        if len(matches) == 1:
            groups[matches[0]].extend(groups.pop(key))
    out: dict[str, list[str]] = {}
    for positions in groups.values():
        if len(positions) < 2:
            continue
        spellings = [str(raw[p]) for p in positions]
        weights = [int(counts.iloc[p]) for p in positions]
        long = [s for s in spellings if len(s.strip()) > 1] or spellings
        keep = max(long, key=lambda s: weights[spellings.index(s)]).strip()
        out[keep] = spellings
    return out


def suggest_recipe(
    df: pd.DataFrame, profile: dict, *, target: str | None, task_type: str
) -> dict:
    """Propose a cleaning recipe from a profile, each step with a one-line reason.

    Parameters
    ----------
    df : pandas.DataFrame
        The data (or a sample of it), for the spelling-variant groups.
    profile : dict
        From :func:`projects.ml.profiling.profile_table` on the same data.
    target : str, optional
        The target column: never dropped, clipped or grouped; rows where it is
        missing are removed for supervised tasks.
    task_type : str
        classification, regression or clustering.

    Returns
    -------
    dict
        Recipe JSON that :func:`validate_recipe` accepts for the profile's columns.
    """
    columns = {c["name"]: c for c in profile.get("columns", [])}
    warned = {
        name: {w["code"]: w for w in c.get("warnings", [])}
        for name, c in columns.items()
    }
    steps: list[dict] = []

    def add(op: str, reason: str, **params: Any) -> None:
        steps.append({"op": op, "reason": reason, **params})

    drop: list[str] = []
    why: list[str] = []
    for name, col in columns.items():
        if name == target:
            continue
        codes = warned[name]
        for code, text in (
            ("identifier", "identifier-like"),
            ("constant", "a single value"),
            ("mostly_missing", f"{col['missing_share']:.0%} missing"),
        ):
            if code in codes:
                drop.append(name)
                why.append(f"{name}: {text}")
                break
    if drop:
        add("drop_columns", "; ".join(why) + " -> drop", columns=drop)
    kept = {n: c for n, c in columns.items() if n not in drop}

    tokens_in = [
        n
        for n in kept
        if "disguised_missing" in warned[n] and kept[n]["kind"] != "numeric"
    ]
    sentinels = sorted(
        {
            float(w["value"])
            for n in kept
            for w in columns[n]["warnings"]
            if w["code"] == "disguised_missing" and "value" in w
        }
    )
    numeric_sentinel_cols = [
        n
        for n in kept
        if any(
            w["code"] == "disguised_missing" and "value" in w
            for w in columns[n]["warnings"]
        )
    ]
    if tokens_in or numeric_sentinel_cols:
        shown = ", ".join(tokens_in + numeric_sentinel_cols)
        extra = f" and {', '.join(f'{v:g}' for v in sentinels)}" if sentinels else ""
        add(
            "missing_tokens",
            f"{shown}: placeholders such as 'N/A', '?', ''{extra} -> missing",
            columns=tokens_in + numeric_sentinel_cols,
            numbers=sentinels,
        )

    kinds = {n: c["kind"] for n, c in kept.items()}
    for name, col in kept.items():
        text_dtype = not _numeric_or_date_dtype(col.get("dtype", ""))
        if "numbers_as_text" in warned[name] and text_dtype:
            add("to_number", f"{name}: numbers stored as text -> convert", column=name)
            kinds[name] = "numeric"
        elif col["kind"] == "datetime" and text_dtype:
            add("parse_dates", f"{name}: dates stored as text -> parse", column=name)

    for name in kept:
        if kinds[name] not in ("categorical", "boolean") or name not in df.columns:
            continue
        groups = suggest_merges(df[name])
        if groups:
            sample = next(iter(groups.values()))
            shown = ", ".join(repr(v) for v in sample[:3])
            add(
                "merge_categories",
                f"{name}: {len(groups)} value(s) spelled several ways ({shown}) -> "
                "merge",
                column=name,
                groups=groups,
            )

    duplicates = profile.get("duplicate_rows") or 0
    if duplicates:
        add("deduplicate", f"{duplicates:,} exact duplicate row(s) -> remove")

    if target and target in kept and task_type != "clustering":
        missing = kept[target]["missing"]
        if missing or "disguised_missing" in warned[target]:
            add(
                "filter_rows",
                f"{target}: the target is missing in {missing:,} row(s) -> drop them",
                column=target,
                operator="not_missing",
            )

    for name, col in kept.items():
        if name == target:
            continue
        placeholders = sum(
            w.get("count", 0)
            for w in col["warnings"]
            if w["code"] == "disguised_missing"
        )
        share = (col["missing"] + placeholders) / max(profile.get("n_rows") or 1, 1)
        if not share:
            continue
        kind = kinds[name]
        if kind == "numeric":
            skewed = "skewed" in warned[name]
            strategy = "median" if skewed else "mean"
            add(
                "impute",
                f"{name}: {share:.0%} missing{', skewed' if skewed else ''} -> "
                f"impute {strategy}",
                column=name,
                strategy=strategy,
                add_indicator=share >= 0.05,
            )
        elif kind in ("categorical", "boolean"):
            add(
                "impute",
                f"{name}: {share:.0%} missing -> most frequent value",
                column=name,
                strategy="most_frequent",
                add_indicator=share >= 0.05,
            )

    for name, col in kept.items():
        if name == target or kinds[name] != "numeric" or "outliers" not in warned[name]:
            continue
        add(
            "outliers",
            f"{name}: {col.get('outliers') or 0:,} value(s) outside the IQR fences -> "
            "clip at the 1st and 99th percentiles",
            column=name,
            method="percentile",
            lower=0.01,
            upper=0.99,
            action="clip",
        )

    for name, col in kept.items():
        if name == target or kinds[name] != "categorical":
            continue
        if col["distinct"] >= RARE_MIN_LEVELS:
            add(
                "rare_categories",
                f"{name}: {col['distinct']:,} categories, many rare -> group those "
                f"under {RARE_SHARE:.0%} of rows into 'other'",
                column=name,
                min_share=RARE_SHARE,
            )
    return {"version": 1, "steps": steps}


def _numeric_or_date_dtype(dtype: str) -> bool:
    return dtype.lower().startswith(("int", "uint", "float", "datetime", "bool"))
