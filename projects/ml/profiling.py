"""Profile a table, check a chosen target and look at group sizes.

Everything here is pure pandas/numpy: no Django. Every public function returns plain
``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` values, with NaN and
infinity turned into ``None``, so the result can go straight into a JSONField and out
through the API.

Column kinds
------------
Each column gets one ``kind``; the rules are applied in this order.

``boolean``
    A bool dtype, a numeric column whose values are exactly ``{0, 1}``, or a text
    column with exactly two distinct values forming a pair such as true/false,
    yes/no, y/n, t/f, 0/1 or on/off (case and surrounding spaces ignored).
``datetime``
    A datetime dtype, or a text column where at least 95% of a sample of values
    contain a digit and parse as dates (one inferred format first, then mixed
    formats).
``numeric``
    Any other number column, including integers with very few distinct values.
``identifier``
    An integer or text column whose distinct count equals its non-missing count with
    at least 20 non-missing values, or a column named like an id (``id``,
    ``customer_id``, ``userId``, ``uuid``...) whose values are at least 95% unique.
    Integer-valued float columns count as integers only when named like an id.
    Unique text values containing spaces and averaging more than 30 characters are
    text, not identifiers.
``text``
    A text column whose values average more than 30 characters, or whose values are
    mostly distinct (more than half of the non-missing rows) and average more than
    15 characters.
``categorical``
    Every other text column, including text columns that hold numbers (they get a
    ``numbers_as_text`` warning and stay categorical until they are converted).

Warnings
--------
``constant``
    One distinct non-missing value.
``mostly_missing``
    More than 50% of the rows are missing.
``high_cardinality``
    A categorical column with more than 50 distinct values, or more than 10 distinct
    values that are also more than 50% of its non-missing rows.
``identifier``
    The column looks like an identifier and will not help a model.
``skewed``
    A numeric column with ``|skew| > 2`` (adjusted Fisher-Pearson, as pandas).
``disguised_missing``
    Numeric: one of -999, -9999, 999, 9999, -1 appears in at least 3 rows and 0.1% of
    the finite values, and lies outside the range of the other values (for -1: the
    other values are all >= 0; for the others: the gap to the nearest other value is
    at least twice their interquartile range). Text: rows holding placeholders such
    as ``?``, ``-``, ``N/A``, ``NA``, ``null``, ``none``, ``nan``, ``unknown``,
    ``missing``, the empty string or only whitespace (case-insensitive).
``numbers_as_text``
    A text column whose non-placeholder values parse as numbers for at least 95% of
    a sample, after removing currency signs, thousands separators, spaces and a
    trailing ``%``.
``outliers``
    More than 5% of a numeric column's finite values lie outside the Tukey fences
    ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]``. Not counted when the IQR is 0.
``mostly_one_value``
    A numeric column whose IQR is 0 but that holds more than one value: one value
    (the median) fills at least the middle half of the rows, and the Tukey fences
    would call every other value an outlier. The warning names the value and its
    share (``zeros: 80%``).
``infinite``
    A numeric column holds infinite values (they are left out of the statistics).
``duplicate_rows``
    (table level) Some rows are exact copies of an earlier row.

Cost
----
Counts (missing, distinct, duplicate rows, top values), quantiles, histograms and
outlier counts use all rows: they are vectorised and cheap. Correlations and the
target associations use a random sample of at most ``sample_rows`` rows. Kind
detection on text columns looks at all distinct values where that is a vectorised
operation and at a weighted sample of 2,000 values for parsing numbers and dates.
Columns are profiled in a few threads; once a column's profile is built, only its
counts and its values at the correlation's sample rows are kept, so the memory
beyond the table is about that of the columns in flight.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.tseries.api import guess_datetime_format

__all__ = [
    "analyze_groups",
    "analyze_target",
    "correlation_ratio",
    "cramers_v",
    "profile_table",
]

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "identifier")
TASK_TYPES = ("classification", "regression", "clustering")

MAX_HISTOGRAM_BINS = 30
TOP_VALUES = 10
MAX_CORRELATION_COLUMNS = 30
MAX_CLASSES = 50
MAX_GROUPS = 50
MAX_LEVELS = 50  # categorical levels kept for association measures; the rest lumped
LEAKAGE_THRESHOLD = 0.95
MIN_IDENTIFIER_ROWS = 20
PARSE_SAMPLE = 2_000
MIXED_DATE_UNIQUES = 20_000

MISSING_TOKENS = frozenset(
    {"?", "-", "n/a", "na", "null", "none", "nan", "unknown", "missing", ""}
)
MAX_TOKEN_LENGTH = 32
NUMERIC_SENTINELS = (-999.0, -9999.0, 999.0, 9999.0, -1.0)
BOOLEAN_PAIRS = (
    frozenset({"true", "false"}),
    frozenset({"yes", "no"}),
    frozenset({"y", "n"}),
    frozenset({"t", "f"}),
    frozenset({"0", "1"}),
    frozenset({"on", "off"}),
)
_ID_NAME = re.compile(r"(?:^|[^A-Za-z])(?:id|uuid|guid)$", re.I)
_ID_CAMEL = re.compile(r"[a-z](?:Id|ID|Uuid|UUID)$")
_NUMBER_NOISE = r"[\s,$€£¥]"


# --------------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    """Turn numpy/pandas scalars, NaN and infinity into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        return _label(value)
    return str(value)


def _label(value: Any) -> str:
    """A short display string for a value (integral floats without ``.0``)."""
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        return "NaT" if value is pd.NaT else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def _f(value: Any) -> float | None:
    """A finite Python float, or None."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _pct(share: float) -> str:
    """Format a share as a percentage a person can read."""
    pct = 100.0 * share
    if 0 < pct < 0.1:
        return "<0.1%"
    if 99.9 < pct < 100:
        return ">99.9%"
    return f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"


def _num(value: float) -> str:
    """Format a number compactly for messages."""
    if value is None or not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _warning(code: str, message: str, **data: Any) -> dict:
    # ``data`` carries what a program needs to act on the warning (the cleaning
    # step's suggestion), so it never has to parse the message.
    return {"code": code, "message": message, **data}


def _looks_like_id_name(name: str) -> bool:
    name = name.strip()
    return bool(_ID_NAME.search(name) or _ID_CAMEL.search(name))


def _sample_positions(n: int, sample_rows: int, random_state: int) -> np.ndarray | None:
    """Sorted random row positions, or None when every row fits in the sample."""
    if n <= sample_rows:
        return None
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=max(int(sample_rows), 1), replace=False))


def _column_positions(df: pd.DataFrame) -> dict[str, int]:
    """Map each column's display name to its first position."""
    positions: dict[str, int] = {}
    for i, name in enumerate(df.columns):
        positions.setdefault(str(name), i)
    return positions


# ------------------------------------------------------------ column normalisation


@dataclass
class _Column:
    """What one column looks like; internal, not returned."""

    name: str
    dtype: str
    n: int
    missing: int
    family: str  # "numeric" | "boolean" | "datetime" | "string"
    series: pd.Series | None  # normalised values (float, bool, datetime or str)
    kind: str = "categorical"
    distinct: int = 0
    values: np.ndarray | None = None  # float64 with NaN (numeric family)
    # ``values`` at the correlation's sample rows, kept once the profile is built.
    sample: np.ndarray | None = None
    counts: pd.Series | None = None  # value counts, non-missing, for top values
    dt_ints: np.ndarray | None = None  # datetime as int64 (non-missing)
    dt_weights: np.ndarray | None = None
    dt_unit: str = "ns"
    dt_tz: Any = None
    token_count: int = 0
    tokens_seen: list[str] = field(default_factory=list)
    numbers_share: float | None = None
    number_example: str | None = None

    @property
    def non_missing(self) -> int:
        return self.n - self.missing


def _normalise(series: pd.Series) -> tuple[str, pd.Series]:
    """Return the column's family and its values in one of four plain dtypes."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        try:
            series = series.astype(dtype.categories.dtype)
        except (TypeError, ValueError):
            series = series.astype(object)
        dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean", series
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime", series
    if ptypes.is_timedelta64_dtype(dtype):
        return "numeric", series.dt.total_seconds()
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return "numeric", series
    if ptypes.is_object_dtype(dtype):
        inferred = ptypes.infer_dtype(series, skipna=True)
        if inferred == "boolean":
            try:
                return "boolean", series.astype("boolean")
            except (TypeError, ValueError):
                pass
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            converted = pd.to_numeric(series, errors="coerce")
            if int(converted.isna().sum()) == int(series.isna().sum()):
                return "numeric", converted
        if inferred in ("datetime", "datetime64", "date"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    converted = pd.to_datetime(series, errors="coerce")
                lost = int(converted.isna().sum()) != int(series.isna().sum())
                if ptypes.is_datetime64_any_dtype(converted.dtype) and not lost:
                    return "datetime", converted
            except (TypeError, ValueError, OverflowError):
                pass
    return "string", series.astype("str")


# ------------------------------------------------------------------ summaries


def _numeric_summary(values: np.ndarray, distinct: int) -> dict[str, Any]:
    """Stats, histogram and IQR outliers of the finite values of a float array."""
    finite = values[np.isfinite(values)]
    out: dict[str, Any] = {
        "stats": None,
        "histogram": None,
        "outliers": None,
        "n_finite": int(finite.size),
        "fences": None,
        "dominant": None,
    }
    if finite.size == 0:
        return out
    with np.errstate(all="ignore"):
        lo, hi = float(finite.min()), float(finite.max())
        q05, q25, q50, q75, q95 = np.quantile(finite, [0.05, 0.25, 0.5, 0.75, 0.95])
        mean = float(finite.mean())
        n = finite.size
        # One pass of centred powers serves std and skew (x**3 on floats is a slow
        # pow(); a product is not).
        centred = finite - mean
        squared = centred * centred
        m2 = float(squared.mean())
        std = math.sqrt(m2 * n / (n - 1)) if n > 1 else None
        skew = None
        if n > 2:
            m3 = float(np.dot(squared, centred)) / n
            # pandas treats a near-zero variance as constant; mirror that.
            if m2 > 1e-14 * max(mean * mean, 1.0):
                g1 = m3 / np.power(m2, 1.5)
                skew = _f(g1 * math.sqrt(n * (n - 1)) / (n - 2))
        iqr = q75 - q25
        low_fence, high_fence = q25 - 1.5 * iqr, q75 + 1.5 * iqr
        outliers = int(np.count_nonzero((finite < low_fence) | (finite > high_fence)))
    out["stats"] = {
        "min": lo,
        "max": hi,
        "mean": mean,
        "std": std,
        "q05": float(q05),
        "q25": float(q25),
        "q50": float(q50),
        "q75": float(q75),
        "q95": float(q95),
        "skew": skew,
    }
    if iqr > 0 or lo == hi:
        out["outliers"] = outliers
        out["fences"] = (float(low_fence), float(high_fence))
    else:
        # Fences [v, v]: every value but the median's would be an "outlier".
        out["dominant"] = (float(q50), int(np.count_nonzero(finite == q50)))
    out["histogram"] = _numeric_histogram(finite, lo, hi, distinct)
    return out


def _numeric_histogram(finite: np.ndarray, lo: float, hi: float, distinct: int):
    """At most 30 bins; integer-valued data with a short range gets one bin each."""
    try:
        with np.errstate(all="ignore"):
            if lo == hi:
                edges = np.array([lo - 0.5, hi + 0.5])
                return {"edges": edges.tolist(), "counts": [int(finite.size)]}
            span = hi - lo
            if not math.isfinite(span):
                return None
            if span < MAX_HISTOGRAM_BINS and np.array_equal(finite, np.round(finite)):
                edges = np.arange(lo - 0.5, hi + 1.0, 1.0)
            else:
                bins = int(min(MAX_HISTOGRAM_BINS, max(distinct, 1)))
                edges = np.linspace(lo, hi, bins + 1)
            counts, edges = np.histogram(finite, bins=edges)
    except (ValueError, FloatingPointError):
        return None
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def _datetime_parts(series: pd.Series) -> tuple[np.ndarray, str, Any]:
    """Non-missing datetimes as int64 plus their unit and time zone."""
    tz = getattr(series.dt, "tz", None)
    if tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = series.dropna().to_numpy()
    if arr.dtype.kind != "M":
        arr = arr.astype("datetime64[ns]")
    unit = np.datetime_data(arr.dtype)[0]
    return arr.view("int64"), unit, tz


def _iso(ints: np.ndarray, unit: str, tz: Any) -> list[str]:
    index = pd.DatetimeIndex(
        np.asarray(ints, dtype="int64").astype(f"datetime64[{unit}]")
    )
    if tz is not None:
        index = index.tz_localize("UTC").tz_convert(tz)
    return [ts.isoformat() for ts in index]


def _datetime_summary(col: _Column) -> tuple[dict | None, dict | None]:
    ints, weights = col.dt_ints, col.dt_weights
    if ints is None or ints.size == 0:
        return None, None
    lo, hi = int(ints.min()), int(ints.max())
    iso_lo, iso_hi = _iso(np.array([lo, hi]), col.dt_unit, col.dt_tz)
    stats = {key: None for key in ("mean", "std", "q05", "q25", "q50", "q75", "q95")}
    stats = {"min": iso_lo, "max": iso_hi, **stats, "skew": None}
    if lo == hi:
        total = int(weights.sum()) if weights is not None else int(ints.size)
        return stats, {"edges": [iso_lo, iso_hi], "counts": [total]}
    bins = int(min(MAX_HISTOGRAM_BINS, max(col.distinct, 1)))
    edges = np.linspace(float(lo), float(hi), bins + 1)
    counts, edges = np.histogram(ints.astype("float64"), bins=edges, weights=weights)
    edge_ints = np.round(edges).astype("int64")
    edge_ints[0], edge_ints[-1] = lo, hi
    histogram = {
        "edges": _iso(edge_ints, col.dt_unit, col.dt_tz),
        "counts": [int(c) for c in counts],
    }
    return stats, histogram


# ----------------------------------------------------------------- inspection


def _inspect(series: pd.Series, name: str, *, random_state: int) -> _Column:
    """Infer the kind of one column and gather the counts every caller needs."""
    n = len(series)
    missing = int(series.isna().sum())
    family, norm = _normalise(series)
    col = _Column(
        name=name,
        dtype=str(series.dtype),
        n=n,
        missing=missing,
        family=family,
        series=norm,
    )
    if family == "numeric":
        _inspect_numeric(col)
    elif family == "boolean":
        col.kind = "boolean"
        col.counts = norm.value_counts()
        col.distinct = len(col.counts)
    elif family == "datetime":
        col.kind = "datetime"
        col.distinct = int(norm.nunique())
        col.dt_ints, col.dt_unit, col.dt_tz = _datetime_parts(norm)
    else:
        _inspect_string(col, random_state=random_state)
    return col


def _float_values(series: pd.Series) -> np.ndarray:
    """A numeric-family series as float64, NaN where missing."""
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _inspect_numeric(col: _Column) -> None:
    norm = col.series
    values = _float_values(norm)
    col.values = values
    col.missing = int(np.isnan(values).sum())
    col.distinct = int(norm.nunique())
    col.kind = "numeric"
    nm = col.non_missing
    if col.distinct == 2:
        uniques = pd.unique(values[~np.isnan(values)])
        if set(uniques.tolist()) == {0.0, 1.0}:
            col.kind = "boolean"
            col.counts = norm.value_counts()
            return
    integer_dtype = ptypes.is_integer_dtype(norm.dtype)
    id_name = _looks_like_id_name(col.name)
    if not integer_dtype and id_name and nm:
        finite = values[np.isfinite(values)]
        integer_dtype = finite.size == nm and bool(
            np.array_equal(finite, np.trunc(finite))
        )
    unique_enough = col.distinct == nm or (id_name and col.distinct >= 0.95 * nm)
    if integer_dtype and nm >= MIN_IDENTIFIER_ROWS and unique_enough:
        col.kind = "identifier"


def _inspect_string(col: _Column, *, random_state: int) -> None:
    s = col.series
    counts = s.value_counts()
    col.counts = counts
    col.distinct = len(counts)
    nm = col.non_missing
    if not len(counts):
        return
    index = counts.index.astype("str")
    # Placeholders are short: lower-casing a million distinct ids to find them
    # would dominate the profile, so only short values are normalised.
    short = np.flatnonzero(index.str.len().to_numpy() <= MAX_TOKEN_LENGTH)
    is_token = np.zeros(len(index), dtype=bool)
    if short.size:
        lowered = pd.Series(index[short], dtype="str").str.strip().str.lower()
        is_token[short] = lowered.isin(MISSING_TOKENS).to_numpy()
    if is_token.any():
        col.token_count = int(counts.to_numpy()[is_token].sum())
        col.tokens_seen = [repr(t) for t in index[is_token][:3]]
    if is_token.any():
        real, real_index = counts[~is_token], index[~is_token]
    else:
        # Filtering would copy every distinct value (a million ids, say) for nothing.
        real, real_index = counts, index
    if len(real) == 0:
        return

    if len(real) <= 4:
        normalised = set(
            pd.Series(real_index, dtype="str").str.strip().str.lower().tolist()
        )
        if len(normalised) == 2 and frozenset(normalised) in BOOLEAN_PAIRS:
            col.kind = "boolean"
            return

    # A sample of rows (drawn through the value counts) for the parsing checks.
    weights = real.to_numpy(dtype="float64")
    rng = np.random.default_rng(random_state)
    picks = rng.choice(
        len(real), size=min(PARSE_SAMPLE, int(weights.sum())), p=weights / weights.sum()
    )
    sample = pd.Series(real_index[picks], dtype="str")

    cleaned = sample.str.replace(_NUMBER_NOISE, "", regex=True).str.replace(
        r"%$", "", regex=True
    )
    parsed = pd.to_numeric(cleaned, errors="coerce")
    share = float(parsed.notna().mean())
    if share >= 0.95:
        col.numbers_share = share
        noisy = sample[sample != cleaned]
        col.number_example = str(noisy.iloc[0] if len(noisy) else sample.iloc[0])
        col.kind = "categorical"
        return

    if _inspect_string_dates(col, sample, real, real_index):
        return

    lengths = pd.Series(real_index, dtype="str").str.len().to_numpy(dtype="float64")
    real_counts = real.to_numpy(dtype="float64")
    avg_len = float((lengths * real_counts).sum() / real_counts.sum())
    spaced = float(sample.str.contains(r"\s", regex=True).mean())
    unique = nm >= MIN_IDENTIFIER_ROWS and col.distinct == nm
    if unique and spaced < 0.5:
        col.kind = "identifier"
    elif avg_len > 30:
        col.kind = "text"
    elif unique or (
        nm >= MIN_IDENTIFIER_ROWS
        and _looks_like_id_name(col.name)
        and col.distinct >= 0.95 * nm
    ):
        col.kind = "identifier"
    elif nm >= MIN_IDENTIFIER_ROWS and col.distinct > 0.5 * nm and avg_len > 15:
        col.kind = "text"
    else:
        col.kind = "categorical"


def _to_datetime(values: pd.Series | pd.Index, fmt: str | None) -> pd.Series | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if fmt is not None:
                out = pd.to_datetime(values, format=fmt, errors="coerce")
            else:
                out = pd.to_datetime(values, format="mixed", errors="coerce")
        except (TypeError, ValueError, OverflowError):
            return None
    out = pd.Series(out)
    if not ptypes.is_datetime64_any_dtype(out.dtype):
        return None
    return out


def _inspect_string_dates(
    col: _Column, sample: pd.Series, real: pd.Series, real_index: pd.Index
) -> bool:
    """Detect text dates; on success fill the datetime fields from the uniques."""
    if float(sample.str.contains(r"\d", regex=True).mean()) < 0.95:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dayfirst hints: the format is checked below
        fmt = guess_datetime_format(str(sample.iloc[0]))
    parsed = _to_datetime(sample, fmt) if fmt else None
    if parsed is None or float(parsed.notna().mean()) < 0.95:
        fmt = None
        parsed = _to_datetime(sample, None)
        if parsed is None or float(parsed.notna().mean()) < 0.95:
            return False
    uniques, weights = real_index, real.to_numpy(dtype="float64")
    if fmt is None and len(uniques) > MIXED_DATE_UNIQUES:
        # dateutil parses one value at a time: keep it to the most frequent uniques.
        uniques, weights = uniques[:MIXED_DATE_UNIQUES], weights[:MIXED_DATE_UNIQUES]
    dates = _to_datetime(pd.Series(uniques, dtype="str"), fmt)
    if dates is None:
        return False
    ok = dates.notna().to_numpy()
    ints, unit, tz = _datetime_parts(dates)
    col.kind = "datetime"
    col.dt_ints, col.dt_unit, col.dt_tz = ints, unit, tz
    col.dt_weights = weights[ok]
    return True


# ------------------------------------------------------------------- warnings


def _column_warnings(col: _Column, summary: dict[str, Any]) -> list[dict]:
    name, n, nm = col.name, col.n, col.non_missing
    out: list[dict] = []
    if col.distinct == 1:
        only = _label(col.counts.index[0]) if col.counts is not None else None
        value = f" ({only!r})" if only is not None else ""
        out.append(
            _warning(
                "constant",
                f"Column {name!r} has a single value{value} in all {nm:,} non-missing "
                "rows; it carries no information.",
            )
        )
    if n and col.missing / n > 0.5:
        out.append(
            _warning(
                "mostly_missing",
                f"Column {name!r} is {_pct(col.missing / n)} missing "
                f"({col.missing:,} of {n:,} rows).",
            )
        )
    many = col.distinct > 50 or (col.distinct > 10 and col.distinct > 0.5 * nm)
    # Numbers stored as text need converting, not encoding: one warning is enough.
    if col.kind == "categorical" and col.numbers_share is None and many:
        out.append(
            _warning(
                "high_cardinality",
                f"Column {name!r} has {col.distinct:,} distinct values "
                f"({_pct(col.distinct / nm)} of non-missing rows); one-hot encoding "
                "it would create very many columns.",
            )
        )
    if col.kind == "identifier":
        out.append(
            _warning(
                "identifier",
                f"Column {name!r} looks like an identifier ({col.distinct:,} distinct "
                f"values in {nm:,} rows); it will not help a model.",
            )
        )
    if col.numbers_share is not None:
        out.append(
            _warning(
                "numbers_as_text",
                f"Column {name!r} is stored as text but {_pct(col.numbers_share)} of "
                f"its values other than missing-value placeholders are numbers "
                f"(e.g. {col.number_example!r}); convert it to a number column.",
            )
        )
    if col.token_count:
        out.append(
            _warning(
                "disguised_missing",
                f"Column {name!r} has {col.token_count:,} rows holding placeholder "
                f"text ({', '.join(col.tokens_seen)}) that probably means missing.",
                count=col.token_count,
            )
        )
    if col.kind != "numeric":
        return out

    stats = summary.get("stats") or {}
    finite_n = summary.get("n_finite", 0)
    infinite = nm - finite_n
    if infinite > 0:
        out.append(
            _warning(
                "infinite",
                f"Column {name!r} holds {infinite:,} infinite values; they are left "
                "out of the statistics.",
            )
        )
    skew = stats.get("skew")
    if skew is not None and math.isfinite(skew) and abs(skew) > 2:
        out.append(
            _warning(
                "skewed",
                f"Column {name!r} is strongly skewed (skew {skew:.1f}); a log or "
                "rank transform may help.",
            )
        )
    for value, count in _sentinels(col.values):
        out.append(
            _warning(
                "disguised_missing",
                f"Column {name!r} holds the value {_num(value)} in {count:,} rows, "
                "far from its other values; it probably stands for a missing value.",
                value=value,
                count=count,
            )
        )
    dominant = summary.get("dominant")
    if dominant is not None:
        value, count = dominant
        label = "zeros" if value == 0 else _num(value)
        out.append(
            _warning(
                "mostly_one_value",
                f"Column {name!r} is mostly one value ({label}: "
                f"{_pct(count / finite_n)}); its interquartile range is 0, so its "
                "other values are not counted as outliers.",
                value=value,
                count=count,
                share=count / finite_n,
            )
        )
    outliers = summary.get("outliers")
    if outliers and finite_n and outliers / finite_n > 0.05:
        low, high = summary["fences"]
        out.append(
            _warning(
                "outliers",
                f"Column {name!r} has {outliers:,} values ({_pct(outliers / finite_n)})"
                f" outside the IQR fences [{_num(low)}, {_num(high)}].",
            )
        )
    return out


def _sentinels(values: np.ndarray | None) -> list[tuple[float, int]]:
    if values is None:
        return []
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    found: list[tuple[float, int]] = []
    present = np.isin(finite, NUMERIC_SENTINELS)
    if not present.any():
        return found
    for value in NUMERIC_SENTINELS:
        is_value = finite == value
        count = int(np.count_nonzero(is_value))
        if count < 3 or count < 0.001 * finite.size:
            continue
        rest = finite[~is_value]
        if rest.size == 0:
            continue
        if value == -1.0:
            far = bool(rest.min() >= 0)
        else:
            q25, q75 = np.quantile(rest, [0.25, 0.75])
            gap = rest.min() - value if value < rest.min() else value - rest.max()
            far = (value < rest.min() or value > rest.max()) and gap >= 2 * (q75 - q25)
        if far:
            found.append((value, count))
    return found


# ---------------------------------------------------------------- duplicates


_HASHABLE_KINDS = frozenset("biufcMm")


def _duplicate_rows(df: pd.DataFrame, columns: list[_Column]) -> int:
    """Exact duplicate rows (as ``df.duplicated().sum()``), computed cheaply."""
    n = len(df)
    if n < 2 or df.shape[1] == 0:
        return 0
    # A complete column with all values distinct rules out any duplicate row.
    if any(c.missing == 0 and c.distinct == n for c in columns):
        return 0
    simple = all(
        getattr(dtype, "kind", "O") in _HASHABLE_KINDS
        or isinstance(dtype, pd.StringDtype)
        for dtype in df.dtypes
    )
    try:
        if simple:
            # Equal rows hash equally: only rows sharing a hash need the exact check.
            hashes = pd.util.hash_pandas_object(df, index=False)
            candidates = hashes.duplicated(keep=False).to_numpy()
            if not candidates.any():
                return 0
            return int(df.iloc[candidates].duplicated().sum())
        return int(df.duplicated().sum())
    except TypeError:
        # Unhashable cells (lists, dicts): compare their text form instead.
        # The profile keeps no copy of the columns: normalise them again, one at a time.
        as_text = pd.DataFrame(
            {i: _normalise(df.iloc[:, i])[1] for i in range(df.shape[1])},
            index=df.index,
        ).astype("str")
        return int(as_text.duplicated().sum())


# -------------------------------------------------------------- correlation


def _correlation(df: pd.DataFrame, columns: list[_Column]) -> dict | None:
    """Pearson correlations of the numeric columns on their kept ``sample`` rows."""
    numeric = [
        (i, c)
        for i, c in enumerate(columns)
        if c.kind == "numeric"
        and c.sample is not None
        and (c.distinct > 1)
        and c.non_missing > 1
    ]
    if len(numeric) < 2:
        return None
    total = len(numeric)
    note = None
    if total > MAX_CORRELATION_COLUMNS:

        def variance(i: int) -> float:
            # Only the sample is kept: read the column's values again, one at a time.
            values = _float_values(_normalise(df.iloc[:, i])[1])
            finite = values[np.isfinite(values)]
            with np.errstate(all="ignore"):
                v = float(np.var(finite)) if finite.size else 0.0
            return v if math.isfinite(v) else 0.0

        numeric = sorted(numeric, key=lambda ic: (-ic[1].non_missing, -variance(ic[0])))
        numeric = numeric[:MAX_CORRELATION_COLUMNS]
        note = (
            f"Showing {MAX_CORRELATION_COLUMNS} of {total} numeric columns: those with "
            "the fewest missing values, ties broken by the largest variance."
        )
    data = {}
    for i, (_, c) in enumerate(numeric):
        data[i] = np.where(np.isfinite(c.sample), c.sample, np.nan)
    with np.errstate(all="ignore"):
        matrix = pd.DataFrame(data).corr(method="pearson").to_numpy()
    rounded = [
        [_f(round(v, 6)) if math.isfinite(v) else None for v in row] for row in matrix
    ]
    out = {"columns": [c.name for _, c in numeric], "matrix": rounded}
    if note:
        out["note"] = note
    return out


# ------------------------------------------------------------------- public API


def _top_values(col: _Column) -> list[dict]:
    if col.kind in ("numeric", "datetime") or col.counts is None:
        return []
    n = col.n or 1
    head = col.counts.iloc[:TOP_VALUES]
    return [
        {"value": _label(value), "count": int(count), "share": int(count) / n}
        for value, count in zip(head.index, head.to_numpy(), strict=True)
    ]


def _column_profile(col: _Column) -> dict:
    summary: dict[str, Any] = {}
    stats = histogram = outliers = None
    if col.kind == "numeric" and col.values is not None:
        summary = _numeric_summary(col.values, col.distinct)
        stats, histogram, outliers = (
            summary["stats"],
            summary["histogram"],
            summary["outliers"],
        )
    elif col.kind == "datetime":
        stats, histogram = _datetime_summary(col)
    return {
        "name": col.name,
        "kind": col.kind,
        "dtype": col.dtype,
        "missing": col.missing,
        "missing_share": col.missing / col.n if col.n else 0.0,
        "distinct": col.distinct,
        "stats": stats,
        "top": _top_values(col),
        "histogram": histogram,
        "outliers": outliers,
        "warnings": _column_warnings(col, summary),
    }


def _keep_for_table(col: _Column, positions: np.ndarray | None) -> None:
    """Drop what only the column's own profile needed, once it is built.

    The table-level steps need the counts (missing, distinct) and, for the
    correlation, the numeric values at the sampled rows: holding every column's
    full copies and value counts until the end would multiply the peak memory.
    """
    if col.values is not None:
        col.sample = col.values if positions is None else col.values[positions]
    col.values = col.counts = col.dt_ints = col.dt_weights = None
    col.series = None


def profile_table(
    df: pd.DataFrame,
    *,
    sample_rows: int = 200_000,
    random_state: int = 0,
    progress: Callable[[int, str], None] | None = None,
) -> dict:
    """Profile every column of a table and the table as a whole.

    Parameters
    ----------
    df : pandas.DataFrame
        The table. It is not modified.
    sample_rows : int, default 200_000
        Rows used for the correlation matrix; counts, quantiles and histograms use
        all rows.
    random_state : int, default 0
        Seed for the row sample and the value samples used to detect numbers and
        dates stored as text.
    progress : callable, optional
        Called as ``progress(percent, message)`` about once per column (at most about
        50 times in all), e.g. to move a progress bar.

    Returns
    -------
    dict
        ``n_rows``, ``n_columns``, ``memory_bytes``, ``duplicate_rows``, ``sampled``,
        ``sample_rows``, ``columns`` (one dict per column: ``name``, ``kind``,
        ``dtype``, ``missing``, ``missing_share``, ``distinct``, ``stats``, ``top``,
        ``histogram``, ``outliers``, ``warnings``), ``correlation`` (``columns``,
        ``matrix`` and, when columns were left out, ``note``; or None) and
        ``warnings`` (every column warning with its ``column``, plus table
        warnings). Only JSON values; NaN and infinity become None.
    """
    n_rows, n_columns = df.shape
    positions = _sample_positions(n_rows, sample_rows, random_state)
    step = max(1, math.ceil(n_columns / 45))

    def report(percent: int, message: str) -> None:
        if progress is not None:
            progress(int(max(0, min(100, percent))), message)

    report(0, "Starting the profile")

    def one(i: int) -> tuple[_Column, dict]:
        col = _inspect(df.iloc[:, i], str(df.columns[i]), random_state=random_state + i)
        profile = _column_profile(col)
        _keep_for_table(col, positions)
        return col, profile

    # Columns are independent and numpy / pyarrow release the GIL in the heavy
    # parts, so a thread per core shortens the profile; progress is reported from
    # this thread only (the callback may write to a database).
    results: list[tuple[_Column, dict] | None] = [None] * n_columns
    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 4)) as pool:
        futures = {pool.submit(one, i): i for i in range(n_columns)}
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            results[i] = future.result()
            if done % step == 0:
                report(
                    int(90 * done / max(n_columns, 1)),
                    f"Profiled {done} of {n_columns} columns",
                )
    inspected = [r[0] for r in results]
    profiles = [r[1] for r in results]

    report(90, "Counting duplicate rows")
    duplicates = _duplicate_rows(df, inspected)
    report(95, "Computing correlations")
    correlation = _correlation(df, inspected)

    table_warnings = [
        {"column": p["name"], **w} for p in profiles for w in p["warnings"]
    ]
    if duplicates:
        table_warnings.append(
            {
                "column": None,
                "code": "duplicate_rows",
                "message": f"{duplicates:,} rows ({_pct(duplicates / n_rows)}) are "
                "exact copies of an earlier row.",
            }
        )
    result = {
        "n_rows": n_rows,
        "n_columns": n_columns,
        "memory_bytes": int(df.memory_usage(deep=True, index=True).sum()),
        "duplicate_rows": duplicates,
        "sampled": positions is not None,
        "sample_rows": len(positions) if positions is not None else n_rows,
        "columns": profiles,
        "correlation": correlation,
        "warnings": table_warnings,
    }
    report(100, "Profile done")
    return _jsonable(result)


# --------------------------------------------------------------- associations


def _codes(series: pd.Series, max_levels: int = MAX_LEVELS) -> np.ndarray:
    """Integer codes (-1 for missing) keeping the most frequent levels."""
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:
        codes, uniques = pd.factorize(series.astype("str"), use_na_sentinel=True)
    codes = np.asarray(codes, dtype="int64")
    if len(uniques) > max_levels:
        freq = np.bincount(codes[codes >= 0], minlength=len(uniques))
        keep = np.argsort(-freq, kind="stable")[:max_levels]
        remap = np.full(len(uniques), max_levels, dtype="int64")
        remap[keep] = np.arange(max_levels)
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    return codes


def _cramers_v_codes(x: np.ndarray, y: np.ndarray, *, bias_correction: bool) -> float:
    ok = (x >= 0) & (y >= 0)
    x, y = x[ok], y[ok]
    n = x.size
    if n < 2:
        return 0.0
    _, x = np.unique(x, return_inverse=True)
    _, y = np.unique(y, return_inverse=True)
    k, r = int(x.max()) + 1, int(y.max()) + 1
    if k < 2 or r < 2:
        return 0.0
    table = np.bincount(x * r + y, minlength=k * r).reshape(k, r).astype("float64")
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = chi2 / n
    if bias_correction:
        # Bergsma (2013): subtract the chi-square expected under independence.
        phi2 = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
        kc = k - (k - 1) ** 2 / (n - 1)
        rc = r - (r - 1) ** 2 / (n - 1)
        denom = min(kc - 1, rc - 1)
    else:
        denom = min(k - 1, r - 1)
    if denom <= 0:
        return 0.0
    return float(min(1.0, math.sqrt(phi2 / denom)))


def _eta_codes(codes: np.ndarray, values: np.ndarray) -> float:
    ok = (codes >= 0) & np.isfinite(values)
    codes, values = codes[ok], values[ok]
    if values.size < 2:
        return 0.0
    with np.errstate(all="ignore"):
        counts = np.bincount(codes)
        sums = np.bincount(codes, weights=values)
        used = counts > 0
        means = sums[used] / counts[used]
        grand = values.mean()
        between = float((counts[used] * (means - grand) ** 2).sum())
        total = float(((values - grand) ** 2).sum())
    if not math.isfinite(total) or total <= 0 or not math.isfinite(between):
        return 0.0
    return float(min(1.0, math.sqrt(between / total)))


def _abs_pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2:
        return 0.0
    with np.errstate(all="ignore"):
        xc, yc = x - x.mean(), y - y.mean()
        denom = math.sqrt(float((xc * xc).sum()) * float((yc * yc).sum()))
        r = float((xc * yc).sum()) / denom if denom > 0 else 0.0
    return float(min(1.0, abs(r))) if math.isfinite(r) else 0.0


def cramers_v(x: Any, y: Any, *, bias_correction: bool = True) -> float:
    """Cramér's V between two categorical variables.

    Parameters
    ----------
    x, y : array-like
        Labels of equal length; pairs where either is missing are dropped.
    bias_correction : bool, default True
        Apply Bergsma's (2013) correction, which keeps V near 0 for independent
        variables with many levels and few rows.

    Returns
    -------
    float
        Between 0 (no association) and 1 (one determines the other); 0.0 when
        either variable has a single level.
    """
    x_codes = _codes(pd.Series(list(x) if not hasattr(x, "dtype") else x), 10**9)
    y_codes = _codes(pd.Series(list(y) if not hasattr(y, "dtype") else y), 10**9)
    if x_codes.size != y_codes.size:
        raise ValueError("x and y must have the same length.")
    return _cramers_v_codes(x_codes, y_codes, bias_correction=bias_correction)


def correlation_ratio(categories: Any, values: Any) -> float:
    """Correlation ratio (eta) of a numeric variable across categories.

    Parameters
    ----------
    categories : array-like
        Group labels; missing labels are dropped with their value.
    values : array-like of float
        Measurements; missing or infinite values are dropped with their label.

    Returns
    -------
    float
        ``sqrt(SS_between / SS_total)`` between 0 and 1; 0.0 when the values are
        constant.
    """
    codes = _codes(pd.Series(categories), 10**9)
    vals = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    if codes.size != vals.size:
        raise ValueError("categories and values must have the same length.")
    return _eta_codes(codes, vals)


# ----------------------------------------------------------------- target


def analyze_target(
    df: pd.DataFrame,
    *,
    target: str,
    task_type: str,
    sample_rows: int = 200_000,
    random_state: int = 0,
) -> dict:
    """Check that a column can be the target of a task and how features relate to it.

    Parameters
    ----------
    df : pandas.DataFrame
        The table holding the target and the candidate features.
    target : str
        Name of the target column.
    task_type : {"classification", "regression", "clustering"}
        The task from the problem definition.
    sample_rows : int, default 200_000
        Rows used for the association scores.
    random_state : int, default 0
        Seed for the row sample.

    Returns
    -------
    dict
        ``target``, ``task_type``, ``kind``, ``ok`` (no blocking problem),
        ``problems`` and ``warnings`` (``code``/``message`` dicts),
        ``distribution`` (``{"classes": [...]}`` for a categorical target, or
        ``{"histogram": ..., "stats": ...}`` for a numeric one), ``associations``
        (``column``, ``score`` 0..1, ``method``, ``leakage``; strongest first) and
        ``leakage`` (columns scoring at least 0.95).

    Raises
    ------
    ValueError
        If ``task_type`` is not one of the three tasks.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(
            f"Unknown task type {task_type!r}; expected one of {', '.join(TASK_TYPES)}."
        )
    result: dict[str, Any] = {
        "target": target,
        "task_type": task_type,
        "kind": None,
        "ok": False,
        "problems": [],
        "warnings": [],
        "distribution": None,
        "associations": [],
        "leakage": [],
    }
    problems, warns = result["problems"], result["warnings"]
    positions_by_name = _column_positions(df)
    if target not in positions_by_name:
        problems.append(
            _warning(
                "target_missing_column",
                f"The table has no column named {target!r}.",
            )
        )
        return _jsonable(result)

    position = positions_by_name[target]
    col = _inspect(df.iloc[:, position], target, random_state=random_state)
    result["kind"] = col.kind
    nm = col.non_missing
    if nm == 0:
        problems.append(
            _warning("all_missing", f"The target {target!r} has no values at all.")
        )
        return _jsonable(result)

    if col.missing:
        warns.append(
            _warning(
                "target_has_missing",
                f"The target {target!r} is missing in {col.missing:,} rows "
                f"({_pct(col.missing / col.n)}); those rows cannot be used for "
                "training.",
            )
        )
    treat_as_classes = task_type == "classification" or (
        task_type == "clustering" and col.family != "numeric"
    )
    if task_type == "clustering":
        warns.append(
            _warning(
                "clustering_ignores_target",
                f"Clustering does not use a target; {target!r} will be left out of "
                "the features.",
            )
        )
    elif task_type == "regression" and col.family != "numeric":
        problems.append(
            _warning(
                "regression_on_text",
                f"Regression needs a numeric target, but {target!r} is {col.kind}"
                + (
                    " text that holds numbers: convert it to numbers first."
                    if col.numbers_share is not None
                    else "; choose classification or another target."
                ),
            )
        )
        treat_as_classes = True
    elif task_type == "classification":
        if col.distinct == 1:
            problems.append(
                _warning(
                    "single_class",
                    f"The target {target!r} has a single value, so there is nothing "
                    "to classify.",
                )
            )
        elif nm >= MIN_IDENTIFIER_ROWS and col.distinct > 0.9 * nm:
            problems.append(
                _warning(
                    "one_class_per_row",
                    f"The target {target!r} has {col.distinct:,} distinct values in "
                    f"{nm:,} rows: nearly every row is its own class. If it is a "
                    "quantity, choose regression.",
                )
            )
        if col.distinct > MAX_CLASSES:
            warns.append(
                _warning(
                    "many_classes",
                    f"The target {target!r} has {col.distinct:,} classes; more than "
                    f"{MAX_CLASSES} classes are hard to learn and to evaluate.",
                )
            )

    counts = _class_counts(col)
    if task_type == "classification" and len(counts) >= 2:
        smallest = counts.iloc[-1]
        share = int(smallest) / nm
        if share < 0.10:
            warns.append(
                _warning(
                    "imbalanced",
                    f"The smallest class of {target!r} ({_label(counts.index[-1])!r}) "
                    f"has {int(smallest):,} rows ({_pct(share)}); consider a metric "
                    "that copes with imbalance and a stratified split.",
                )
            )

    if treat_as_classes:
        head = counts.iloc[:MAX_CLASSES]
        result["distribution"] = {
            "classes": [
                {"value": _label(v), "count": int(c), "share": int(c) / nm}
                for v, c in zip(head.index, head.to_numpy(), strict=True)
            ]
        }
    else:
        summary = _numeric_summary(col.values, col.distinct)
        result["distribution"] = {
            "histogram": summary["histogram"],
            "stats": summary["stats"],
        }

    result["ok"] = not problems
    if task_type != "clustering" and not problems:
        associations = _associations(
            df,
            target_position=position,
            target_col=col,
            target_is_class=task_type == "classification",
            sample_rows=sample_rows,
            random_state=random_state,
        )
        result["associations"] = associations
        result["leakage"] = [a["column"] for a in associations if a["leakage"]]
    return _jsonable(result)


def _class_counts(col: _Column) -> pd.Series:
    """Class counts, largest first, for any kind of target."""
    if col.counts is not None:
        return col.counts.sort_values(ascending=False, kind="stable")
    return col.series.value_counts()


def _associations(
    df: pd.DataFrame,
    *,
    target_position: int,
    target_col: _Column,
    target_is_class: bool,
    sample_rows: int,
    random_state: int,
) -> list[dict]:
    positions = _sample_positions(len(df), sample_rows, random_state)
    frame = df if positions is None else df.iloc[positions]
    target_series = target_col.series
    if positions is not None:
        target_series = target_series.iloc[positions]
    if target_is_class:
        target_codes = _codes(target_series)
        target_values = None
    else:
        target_codes = None
        target_values = target_series.to_numpy(dtype="float64", na_value=np.nan)

    out: list[dict] = []
    for i in range(frame.shape[1]):
        name = str(frame.columns[i])
        if i == target_position or name == target_col.name:
            continue
        feature = _inspect(frame.iloc[:, i], name, random_state=random_state + i)
        if (
            feature.kind in ("identifier", "text", "datetime")
            or not feature.non_missing
        ):
            continue
        if feature.kind == "numeric":
            values = feature.values
            if target_is_class:
                score, method = _eta_codes(target_codes, values), "correlation_ratio"
            else:
                score, method = _abs_pearson(target_values, values), "abs_pearson"
        else:
            codes = _codes(feature.series)
            if target_is_class:
                score = _cramers_v_codes(target_codes, codes, bias_correction=True)
                method = "cramers_v"
            else:
                score, method = _eta_codes(codes, target_values), "correlation_ratio"
        score = round(score, 6)
        out.append(
            {
                "column": name,
                "score": score,
                "method": method,
                "leakage": score >= LEAKAGE_THRESHOLD,
            }
        )
    out.sort(key=lambda a: -a["score"])
    return out


# ------------------------------------------------------------------ groups


def analyze_groups(df: pd.DataFrame, *, columns: list[str]) -> list[dict]:
    """Count the rows in each group of some columns and flag small groups.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    columns : list of str
        Columns to group by, one at a time (e.g. sensitive attributes).

    Returns
    -------
    list of dict
        One dict per column: ``column``, ``groups`` (``value``, ``count``,
        ``share``, ``under_represented``; largest first, at most 50, missing values
        as the group ``"(missing)"``) and ``warnings``. A group is under-represented
        when its share is below ``1 / (2k)`` for ``k`` groups or it has fewer than 30
        rows.

    Raises
    ------
    ValueError
        If a column is not in the table.
    """
    positions = _column_positions(df)
    unknown = [c for c in columns if c not in positions]
    if unknown:
        raise ValueError(
            "Unknown column(s): " + ", ".join(repr(c) for c in unknown) + "."
        )
    n = len(df)
    results = []
    for name in columns:
        series = df.iloc[:, positions[name]]
        try:
            counts = series.value_counts(dropna=False)
        except TypeError:
            counts = series.astype("str").value_counts(dropna=False)
        k = len(counts)
        groups = []
        for value, count in zip(
            counts.index[:MAX_GROUPS], counts.to_numpy(), strict=False
        ):
            count = int(count)
            share = count / n if n else 0.0
            groups.append(
                {
                    "value": "(missing)" if _is_missing(value) else _label(value),
                    "count": count,
                    "share": share,
                    "under_represented": share < 1 / (2 * k) or count < 30,
                }
            )
        warns = []
        if k > MAX_GROUPS:
            warns.append(
                _warning(
                    "too_many_groups",
                    f"Column {name!r} has {k:,} groups; only the {MAX_GROUPS} largest "
                    "are shown. Group a column with fewer values.",
                )
            )
        small = sum(g["under_represented"] for g in groups)
        if small:
            warns.append(
                _warning(
                    "under_represented",
                    f"{small} group(s) of {name!r} are under-represented (fewer than "
                    f"30 rows or less than {_pct(1 / (2 * k))} of the rows); results "
                    "for them will be unreliable.",
                )
            )
        results.append({"column": name, "groups": groups, "warnings": warns})
    return _jsonable(results)


def _is_missing(value: Hashable) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
