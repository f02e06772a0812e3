"""Split a prepared table into train, validation and test (step 3).

A split is data a user writes::

    {"train": 0.7, "validation": 0.15, "test": 0.15, "seed": 42,
     "stratify": null, "group_column": null, "time_column": null}

:func:`validate_split` checks it against the columns (before any job starts) and
:func:`split_frame` applies it: one label per row plus a JSON report. The same spec
and the same rows always give the same labels.

Methods
-------
random
    A seeded permutation. As in scikit-learn's ``train_test_split``, the held-out
    parts are rounded up (``ceil(ratio * n)`` rows for validation and for test) and
    train gets the rest, so the sizes are exact and do not depend on the seed. A
    ratio of 0 gives an empty split.
stratified
    The default for classification with a target, unless a group or time column is
    set. Same sizes as random. Each class of ``n_c`` rows gets ``floor`` or ``ceil``
    of ``n_c * size / n`` rows in each split (a controlled rounding, so the split
    sizes stay exact), and a class of 3 rows or more gets at least one row in every
    non-empty split (2 rows: one in train, one in test). For tiny classes that
    minimum wins over the proportion. A class of a single row cannot be both
    learned and tested: :class:`SpecError` on ``split.stratify``. When the minimums
    of many tiny classes take more than a split's share, larger classes give way by
    a row or two.
group
    Rows sharing a value of ``group_column`` stay in one split. The groups are
    shuffled (seeded) and cut where the running row count is nearest to the split
    sizes, so each cut is off by at most half of one group. Rows with a missing
    group value are each their own group: a row without an id cannot be known to
    share it with another, and one big "missing" group could swallow a whole split.
    A ``group_missing`` warning counts them.
time
    Rows in order of ``time_column``: the earliest to train, then validation, then
    test. Rows with the same time at a cut stay together, on the side holding more
    of them (train keeps at least the first block). Rows with a missing or
    unreadable time are refused (``split.time_column``): nothing says where they
    belong, and sending them to train could let the future into training. Drop
    them in the cleaning recipe.

Missing targets: for classification and regression every row must have a target,
otherwise :func:`split_frame` raises :class:`SpecError` on ``target``. Such rows
can be neither learned from nor scored, and the suggested cleaning recipe already
drops them; refusing keeps the split sizes honest. Clustering ignores the target.

scikit-learn's splitters are not used: none splits in three at once, keeps every
class in every split, or balances groups by rows rather than by group count. All of
it is vectorised numpy; a million rows split in well under a second.

Report warnings (``code``, ``message`` plus data): ``class_missing``,
``small_split`` (a non-empty ratio with fewer than :data:`MIN_SPLIT_ROWS` rows),
``duplicates_across_splits``, ``leakage`` (a column scoring at least
:data:`~projects.ml.profiling.LEAKAGE_THRESHOLD` against the target on the training
rows), ``group_missing``, ``ratios_missed`` (a group or time split more than 5
points away from a ratio).

Pure pandas/numpy + pydantic: never imports Django.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from projects.ml.cleaning import repeat_candidates
from projects.ml.errors import SpecError, spec_error_from_pydantic
from projects.ml.profiling import (
    LEAKAGE_THRESHOLD,
    TASK_TYPES,
    correlation_ratio,
    cramers_v,
)

__all__ = [
    "MIN_SPLIT_ROWS",
    "SPLITS",
    "SplitResult",
    "SplitSpec",
    "split_frame",
    "validate_split",
]

SPLITS = ("train", "validation", "test")
MIN_SPLIT_ROWS = 30  # below this a split's metrics are mostly noise
RATIO_TOLERANCE = 1e-6
RATIO_WARNING = 0.05
LEAKAGE_SAMPLE = 100_000  # training rows scored for leakage
MAX_LEVELS = 50  # levels kept per column when scoring leakage; the rest lumped
MAX_CLASSES = 50  # classes listed in the report's class balance
MAX_NAMED = 10  # classes named in one warning
# Which split gets a class's first, second and third row when stratifying.
_PRIORITY = (0, 2, 1)

Name = Annotated[str, Field(min_length=1, max_length=255)]


class SplitSpec(BaseModel):
    """A validated split; ``model_dump(mode="json")`` gives the JSON back."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    train: float = Field(0.7, gt=0, lt=1)
    validation: float = Field(0.15, ge=0, lt=1)
    test: float = Field(0.15, ge=0, lt=1)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    stratify: bool | None = None
    group_column: Name | None = None
    time_column: Name | None = None

    @property
    def method(self) -> str:
        """``"time"``, ``"group"``, ``"stratified"`` or ``"random"``."""
        if self.time_column:
            return "time"
        if self.group_column:
            return "group"
        return "stratified" if self.stratify else "random"

    @property
    def ratios(self) -> tuple[float, float, float]:
        return (self.train, self.validation, self.test)


@dataclass(frozen=True, eq=False)
class SplitResult:
    """What :func:`split_frame` returns.

    Attributes
    ----------
    codes : numpy.ndarray of int8
        One code per row of the input, by position: 0 train, 1 validation, 2 test
        (indexes into :data:`SPLITS`).
    report : dict
        JSON-ready counts, class balance, time ranges and warnings.
    """

    codes: np.ndarray
    report: dict

    @property
    def labels(self) -> pd.Categorical:
        """The codes as a categorical of ``"train"``/``"validation"``/``"test"``.

        ``pyarrow.array(result.labels)`` stores it as a dictionary column (int8
        indices), which Parquet keeps compact and pandas reads back as categories.
        """
        return pd.Categorical.from_codes(self.codes, categories=list(SPLITS))

    def mask(self, split: str) -> np.ndarray:
        """Boolean mask of the rows in ``split``."""
        return self.codes == SPLITS.index(split)


# ---------------------------------------------------------------- validation


def _parse(spec: SplitSpec | dict | None) -> SplitSpec:
    if isinstance(spec, SplitSpec):
        return spec
    if spec is None:
        return SplitSpec()
    if not isinstance(spec, dict):
        raise SpecError("split: expected a JSON object.", field="split")
    try:
        return SplitSpec.model_validate(spec)
    except ValidationError as exc:
        raise spec_error_from_pydantic(exc, prefix="split") from None


def _checked(spec: SplitSpec, *, target: str | None, task_type: str) -> SplitSpec:
    """Rules across fields and the task; returns the spec with ``stratify`` decided."""
    if task_type not in TASK_TYPES:
        raise SpecError(
            f"task_type: choose one of {', '.join(TASK_TYPES)}; got {task_type!r}.",
            field="task_type",
        )
    total = sum(spec.ratios)
    if abs(total - 1) > RATIO_TOLERANCE:
        raise SpecError(
            f"split.train: train + validation + test must sum to 1; "
            f"{spec.train:g} + {spec.validation:g} + {spec.test:g} = {total:.6g}.",
            field="split.train",
        )
    if spec.group_column and spec.time_column:
        raise SpecError(
            "split.time_column: choose a group column or a time column, not both.",
            field="split.time_column",
        )
    for name in ("group_column", "time_column"):
        if target is not None and getattr(spec, name) == target:
            raise SpecError(
                f"split.{name}: {target!r} is the target; choose another column.",
                field=f"split.{name}",
            )
    has_classes = task_type == "classification" and target is not None
    if spec.stratify is None:
        default = has_classes and not (spec.group_column or spec.time_column)
        return spec.model_copy(update={"stratify": default})
    if spec.stratify:
        if task_type != "classification":
            raise SpecError(
                f"split.stratify: stratifying keeps class shares, which needs a "
                f"classification task; this one is {task_type}.",
                field="split.stratify",
            )
        if target is None:
            raise SpecError(
                "split.stratify: stratifying needs a target; choose it in step 2.",
                field="split.stratify",
            )
        if spec.group_column or spec.time_column:
            which = "group" if spec.group_column else "time"
            raise SpecError(
                f"split.stratify: a split by {which} cannot also be stratified; "
                "switch stratify off.",
                field="split.stratify",
            )
    return spec


def _is_date_kind(kind: str) -> bool:
    return kind == "datetime" or kind.startswith(("datetime64", "date"))


def validate_split(
    spec: SplitSpec | dict | None,
    *,
    frame_columns: dict[str, str],
    target: str | None,
    task_type: str,
) -> SplitSpec:
    """Check a split spec against the columns it will be applied to.

    Parameters
    ----------
    spec : SplitSpec, dict or None
        The spec as JSON; None means the defaults (70/15/15, seed 42).
    frame_columns : dict of str to str
        The columns the split will see (after the cleaning recipe) and their kind
        (``numeric``, ``categorical``, ``datetime``, ...).
    target : str or None
        The target column, if the problem has one.
    task_type : {"classification", "regression", "clustering"}

    Returns
    -------
    SplitSpec
        With ``stratify`` decided (True for classification with a target and
        neither a group nor a time column, unless set).

    Raises
    ------
    SpecError
        Naming the field (``split.train``, ``split.stratify``,
        ``split.group_column``, ``split.time_column``, ``target``, ``task_type``).
    """
    parsed = _checked(_parse(spec), target=target, task_type=task_type)
    for name in ("group_column", "time_column"):
        column = getattr(parsed, name)
        if column is not None and column not in frame_columns:
            shown = ", ".join(repr(c) for c in list(frame_columns)[:MAX_NAMED])
            raise SpecError(
                f"split.{name}: there is no column {column!r}; the columns are "
                f"{shown}{', ...' if len(frame_columns) > MAX_NAMED else ''}.",
                field=f"split.{name}",
            )
    if parsed.time_column and not _is_date_kind(frame_columns[parsed.time_column]):
        raise SpecError(
            f"split.time_column: {parsed.time_column!r} is "
            f"{frame_columns[parsed.time_column]}, not dates; parse it as dates in "
            "the cleaning recipe or choose a date column.",
            field="split.time_column",
        )
    if parsed.stratify and target not in frame_columns:
        raise SpecError(
            f"target: there is no column {target!r} to stratify by.", field="target"
        )
    return parsed


# ------------------------------------------------------------------ methods


def _sizes(n: int, spec: SplitSpec) -> np.ndarray:
    if n == 0:
        raise SpecError("split: there are no rows to split.", field="split")
    # Rounded first so that 0.15 * 100 = 15.000000000000002 stays 15 rows.
    validation = math.ceil(round(spec.validation * n, 9))
    test = math.ceil(round(spec.test * n, 9))
    train = n - validation - test
    if train < 1:
        raise SpecError(
            f"split.train: {n} row(s) leave nothing to train on after "
            f"{validation} for validation and {test} for test.",
            field="split.train",
        )
    return np.array([train, validation, test], dtype=np.int64)


def _random_codes(n: int, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    codes = np.empty(n, dtype=np.int8)
    codes[rng.permutation(n)] = np.repeat(np.arange(3, dtype=np.int8), sizes)
    return codes


def _allocate(
    counts: np.ndarray, sizes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Rows of each class per split: rows sum to ``counts``, columns to ``sizes``."""
    k = counts.size
    q = np.round(counts[:, None] * sizes[None, :] / counts.sum(), 9)
    a = np.floor(q).astype(np.int64)
    jitter = rng.random((k, 3)) * 1e-6  # seeded tie-breaks between equal remainders
    # Largest remainder per class: each cell is floor or ceil of its share.
    need = counts - a.sum(1)
    rank = np.argsort(np.argsort(a - q - jitter, axis=1), axis=1)
    a += rank < need[:, None]

    order = [s for s in _PRIORITY if sizes[s] > 0]
    mins = np.zeros_like(a)
    for i, s in enumerate(order):
        mins[:, s] = counts > i
    for s in order:
        short = np.flatnonzero(a[:, s] < mins[:, s])
        if short.size:
            # Take the row from the split this class is most over-served in that
            # keeps its own minimum; one always exists since counts >= sum(mins).
            over = np.where((a > mins) & (np.arange(3) != s), a - q, -np.inf)
            donor = over[short].argmax(1)
            a[short, donor] -= 1
            a[short, s] += 1

    # Controlled rounding: move rows between splits inside classes until the split
    # sizes are exact. Level 0 keeps every cell at floor/ceil and the minimums,
    # level 1 only the minimums, level 2 only those of classes big enough to be in
    # every split (a smaller class cannot be everywhere anyway, so it gives way:
    # counts 2, 2, 3, 3 at 70/15/15 need both 3-row classes in every split),
    # level 3 anything (always possible).
    deficit = sizes - a.sum(0)
    tie = rng.random(k) * 1e-6
    hard = mins * (counts >= len(order))[:, None]

    def pick(t: int, s: int, level: int) -> np.ndarray:
        if level == 0:
            ok = (a[:, t] > q[:, t]) & (a[:, s] < q[:, s]) & (a[:, t] > mins[:, t])
        else:
            floor = {1: mins, 2: hard}.get(level)
            ok = a[:, t] > (floor[:, t] if floor is not None else 0)
        idx = np.flatnonzero(ok)
        score = (a[idx, t] - q[idx, t]) + (q[idx, s] - a[idx, s]) + tie[idx]
        return idx[np.argsort(-score, kind="stable")]

    def move(rows: np.ndarray, t: int, s: int) -> None:
        a[rows, t] -= 1
        a[rows, s] += 1
        deficit[t] += rows.size
        deficit[s] -= rows.size

    pairs = [(t, s) for t in range(3) for s in range(3) if t != s]
    level = 0
    while deficit.any():
        moved = 0
        for t, s in pairs:
            if deficit[t] < 0 < deficit[s]:
                rows = pick(t, s, level)[: min(-deficit[t], deficit[s])]
                move(rows, t, s)
                moved += rows.size
        if not moved and level == 0:
            # No class can go straight from t to s: go through the third split.
            for t, s in pairs:
                u = 3 - t - s
                if deficit[t] < 0 < deficit[s]:
                    first, second = pick(t, u, 0), pick(u, s, 0)
                    m = min(-deficit[t], deficit[s], first.size, second.size)
                    move(first[:m], t, u)
                    move(second[:m], u, s)
                    moved += m
        if not moved:
            level += 1
    return a


def _stratified_codes(
    classes: np.ndarray, counts: np.ndarray, sizes: np.ndarray, rng
) -> np.ndarray:
    n = classes.size
    alloc = _allocate(counts, sizes, rng)
    # Small integer codes let numpy's stable argsort use a radix sort.
    small = classes.astype(np.int16 if counts.size < 2**15 else np.int64)
    perm = rng.permutation(n)
    order = perm[np.argsort(small[perm], kind="stable")]  # by class, random within
    sorted_classes = classes[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(n) - starts[sorted_classes]
    cut1 = alloc[sorted_classes, 0]
    cut2 = cut1 + alloc[sorted_classes, 1]
    codes = np.empty(n, dtype=np.int8)
    codes[order] = (rank >= cut1).astype(np.int8) + (rank >= cut2)
    return codes


def _group_codes(
    groups: pd.Series, sizes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes per row, groups per split and the number of rows without a group."""
    ids, uniques = pd.factorize(groups, use_na_sentinel=True)
    ids = np.asarray(ids, dtype=np.int64)
    missing = ids < 0
    n_missing = int(missing.sum())
    ids[missing] = len(uniques) + np.arange(n_missing)
    n_groups = len(uniques) + n_missing
    order = rng.permutation(n_groups)
    ends = np.cumsum(np.bincount(ids, minlength=n_groups)[order])
    cuts = []
    for goal in np.cumsum(sizes)[:2]:
        i = int(np.searchsorted(ends, goal))  # ends[i] is the first end >= goal
        before = ends[i - 1] if i > 0 else 0
        cuts.append(i if goal - before < ends[i] - goal else i + 1)
    cut1 = max(cuts[0], 1)  # the first group always trains
    cut2 = max(cuts[1], cut1)
    position = np.arange(n_groups)
    split_of_group = np.empty(n_groups, dtype=np.int8)
    split_of_group[order] = (position >= cut1).astype(np.int8) + (position >= cut2)
    return split_of_group[ids], np.bincount(split_of_group, minlength=3), n_missing


def _time_values(series: pd.Series, name: str) -> pd.Series:
    """The time column as datetimes; refuses numbers and missing or bad values."""
    field = "split.time_column"
    if not ptypes.is_datetime64_any_dtype(series.dtype):
        if ptypes.is_numeric_dtype(series.dtype) or ptypes.is_bool_dtype(series.dtype):
            raise SpecError(f"{field}: {name!r} holds numbers, not dates.", field=field)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                series = pd.to_datetime(series, errors="coerce", format="mixed")
            except ValueError:  # mixed UTC offsets: one time zone orders them
                series = pd.to_datetime(
                    series, errors="coerce", format="mixed", utc=True
                )
    bad = int(series.isna().sum())
    if bad:
        raise SpecError(
            f"{field}: {bad:,} row(s) have no readable time in {name!r}; drop them "
            "in the cleaning recipe (impute with drop_rows) before a time split.",
            field=field,
        )
    return series


def _time_codes(times: pd.Series, sizes: np.ndarray) -> np.ndarray:
    values = times
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    ints = values.to_numpy().view("int64")
    n = ints.size
    order = np.argsort(ints, kind="stable")
    ordered = ints[order]
    cuts = []
    for goal in np.cumsum(sizes)[:2]:
        goal = int(goal)
        if 0 < goal < n and ordered[goal - 1] == ordered[goal]:
            # A tie straddles the cut: keep it whole, on the side holding more of it.
            lo = int(np.searchsorted(ordered, ordered[goal], "left"))
            hi = int(np.searchsorted(ordered, ordered[goal], "right"))
            goal = hi if lo == 0 or goal - lo >= hi - goal else lo
        cuts.append(goal)
    position = np.arange(n)
    codes = np.empty(n, dtype=np.int8)
    codes[order] = (position >= cuts[0]).astype(np.int8) + (
        position >= max(cuts[1], cuts[0])
    )
    return codes


# ------------------------------------------------------------------- report


def _label(value: Any) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def _warning(code: str, message: str, **data: Any) -> dict:
    return {"code": code, "message": message, **data}


def _class_balance(
    classes: np.ndarray, uniques: Any, codes: np.ndarray, counts: np.ndarray
) -> tuple[list[dict], list[dict]]:
    k = len(uniques)
    table = np.bincount(classes * 3 + codes, minlength=k * 3).reshape(k, 3)
    per_split = table.sum(0)
    names = [_label(v) for v in uniques]
    balance = []
    for c in np.argsort(-table.sum(1), kind="stable")[:MAX_CLASSES]:
        balance.append(
            {
                "value": names[c],
                "counts": {s: int(table[c, i]) for i, s in enumerate(SPLITS)},
                "shares": {
                    s: round(float(table[c, i] / per_split[i]), 6)
                    if per_split[i]
                    else 0.0
                    for i, s in enumerate(SPLITS)
                },
            }
        )
    warns = []
    for i, split in enumerate(SPLITS):
        absent = np.flatnonzero(table[:, i] == 0) if per_split[i] else []
        if len(absent):
            shown = [names[c] for c in absent[:MAX_NAMED]]
            warns.append(
                _warning(
                    "class_missing",
                    f"{len(absent)} class(es) have no rows in {split}: "
                    + ", ".join(repr(v) for v in shown)
                    + (", ..." if len(absent) > MAX_NAMED else "")
                    + "; its scores will say nothing about them.",
                    split=split,
                    classes=shown,
                )
            )
    return balance, warns


def _row_hashes(df: pd.DataFrame) -> np.ndarray:
    try:
        return pd.util.hash_pandas_object(df, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts): compare their text
        return pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy()


def _duplicates_across(df: pd.DataFrame, codes: np.ndarray) -> tuple[int, int]:
    """Rows whose exact copy sits in another split, and their distinct values."""
    # Hashing text columns is most of the cost: rows equal on every column are equal
    # on the numeric ones, so only rows repeating there are hashed in full.
    candidates = repeat_candidates(df)
    if candidates is not None:
        if not candidates.size:
            return 0, 0
        if candidates.size < len(df):
            df, codes = df.iloc[candidates], codes[candidates]
    hashes = _row_hashes(df)
    uniq, inverse = np.unique(hashes, return_inverse=True)
    if uniq.size == hashes.size:
        return 0, 0
    seen = np.zeros(uniq.size, dtype=np.int8)
    for i in range(3):
        present = np.zeros(uniq.size, dtype=bool)
        present[inverse[codes == i]] = True
        seen += present
    crossing = seen > 1
    return int(crossing[inverse].sum()), int(crossing.sum())


def _lumped(series: pd.Series) -> pd.Series:
    """Category codes (NaN for missing) keeping the most frequent levels only.

    Lumping the rare levels stops an identifier-like column from looking like a
    perfect predictor: every unique id "determines" its row's class.
    """
    ids, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    if len(uniques) > MAX_LEVELS:
        freq = np.bincount(ids[ids >= 0], minlength=len(uniques))
        keep = np.argsort(-freq, kind="stable")[:MAX_LEVELS]
        remap = np.full(len(uniques), MAX_LEVELS)
        remap[keep] = np.arange(MAX_LEVELS)
        ids = np.where(ids >= 0, remap[np.maximum(ids, 0)], -1)
    return pd.Series(ids).where(ids >= 0)


def _abs_pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return 0.0
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    denom = math.sqrt(float(x @ x) * float(y @ y))
    return min(1.0, abs(float(x @ y)) / denom) if denom > 0 else 0.0


def _leakage(
    df: pd.DataFrame,
    train: np.ndarray,
    *,
    target: str,
    task_type: str,
    skip: set[str],
    rng: np.random.Generator,
) -> list[dict]:
    if train.size < MIN_SPLIT_ROWS:
        return []  # too few rows: any column would look predictive
    if train.size > LEAKAGE_SAMPLE:
        train = np.sort(rng.choice(train, LEAKAGE_SAMPLE, replace=False))
    frame = df.iloc[train].reset_index(drop=True)
    y = frame[target]
    classes = _lumped(y) if task_type == "classification" else None
    y_values = None
    if classes is None:
        y_values = pd.to_numeric(y, errors="coerce").to_numpy(float, na_value=np.nan)
    warns = []
    for i, name in enumerate(map(str, frame.columns)):
        col = frame.iloc[:, i]
        if name == target or name in skip:
            continue
        if ptypes.is_datetime64_any_dtype(col.dtype) or ptypes.is_timedelta64_dtype(
            col.dtype
        ):
            continue
        numeric = ptypes.is_numeric_dtype(col.dtype) and not ptypes.is_bool_dtype(
            col.dtype
        )
        if classes is not None and numeric:
            score, method = correlation_ratio(classes, col), "correlation_ratio"
        elif classes is not None:
            score, method = cramers_v(_lumped(col), classes), "cramers_v"
        elif numeric:
            values = col.to_numpy(dtype=float, na_value=np.nan)
            score, method = _abs_pearson(values, y_values), "abs_pearson"
        else:
            score = correlation_ratio(_lumped(col), y_values)
            method = "correlation_ratio"
        if score >= LEAKAGE_THRESHOLD:
            warns.append(
                _warning(
                    "leakage",
                    f"{name!r} predicts the target {target!r} almost perfectly on the "
                    f"training rows ({method} {score:.2f}); if it is only known after "
                    "the outcome, drop it.",
                    column=name,
                    score=round(float(score), 6),
                    method=method,
                )
            )
    return warns


def split_frame(
    df: pd.DataFrame, spec: SplitSpec, *, target: str | None, task_type: str
) -> SplitResult:
    """Label every row of a table train, validation or test, and report on it.

    Parameters
    ----------
    df : pandas.DataFrame
        The cleaned table; labels follow its row positions, not its index.
    spec : SplitSpec
        From :func:`validate_split`.
    target : str or None
        The target column; ignored for clustering.
    task_type : {"classification", "regression", "clustering"}

    Returns
    -------
    SplitResult
        ``codes`` (int8 per row), ``labels`` (categorical) and ``report``: ``method``,
        ``seed``, ``rows``, ``counts`` and ``shares`` per split, ``class_balance``
        (classification: per class, ``counts`` and ``shares`` per split, the 50
        largest classes) and ``classes``, ``groups`` (group split: groups per split,
        ``missing_rows``), ``time_ranges`` (time split: ``min``/``max`` ISO times per
        non-empty split) and ``warnings``. Every value is plain JSON.

    Raises
    ------
    SpecError
        ``target`` when the target column is absent or has missing values,
        ``split.stratify`` for a class of one row, ``split.time_column`` for
        missing, numeric or unreadable times, ``split.group_column`` /
        ``split.time_column`` for an absent column, ``split.train`` when the
        table is too small to leave a training row, and any rule of
        :func:`validate_split` that does not need the columns' kinds.
    """
    spec = _checked(_parse(spec), target=target, task_type=task_type)
    n = len(df)
    sizes = _sizes(n, spec)
    rng = np.random.default_rng(spec.seed)
    columns = set(map(str, df.columns))
    for name in ("group_column", "time_column"):
        column = getattr(spec, name)
        if column is not None and column not in columns:
            raise SpecError(
                f"split.{name}: there is no column {column!r}.", field=f"split.{name}"
            )

    supervised = task_type != "clustering" and target is not None
    classes = uniques = counts = None
    if supervised:
        if target not in columns:
            raise SpecError(f"target: there is no column {target!r}.", field="target")
        missing = int(df[target].isna().sum())
        if missing:
            raise SpecError(
                f"target: {target!r} is missing in {missing:,} row(s); drop them in "
                "the cleaning recipe (impute with drop_rows) before splitting.",
                field="target",
            )
        if task_type == "classification":
            ids, uniques = pd.factorize(df[target])
            classes = np.asarray(ids, dtype=np.int64)
            counts = np.bincount(classes, minlength=len(uniques))

    report: dict[str, Any] = {
        "method": spec.method,
        "seed": spec.seed,
        "rows": n,
        "counts": {},
        "shares": {},
        "classes": None if uniques is None else len(uniques),
        "class_balance": None,
        "groups": None,
        "time_ranges": None,
        "warnings": [],
    }
    warns = report["warnings"]
    if spec.time_column:
        times = _time_values(df[spec.time_column], spec.time_column)
        codes = _time_codes(times, sizes)
    elif spec.group_column:
        codes, groups, n_missing = _group_codes(df[spec.group_column], sizes, rng)
        report["groups"] = {
            "column": spec.group_column,
            "counts": {s: int(groups[i]) for i, s in enumerate(SPLITS)},
            "missing_rows": n_missing,
        }
        if n_missing:
            warns.append(
                _warning(
                    "group_missing",
                    f"{n_missing:,} row(s) have no {spec.group_column!r}; each was "
                    "treated as a group of its own.",
                    rows=n_missing,
                )
            )
    elif spec.stratify:
        single = np.flatnonzero(counts == 1)
        if single.size:
            shown = ", ".join(repr(_label(uniques[c])) for c in single[:MAX_NAMED])
            raise SpecError(
                f"split.stratify: class {shown} of {target!r} has a single row, "
                "which cannot be both trained on and tested; merge or drop it in "
                "the cleaning recipe, or switch stratify off.",
                field="split.stratify",
            )
        codes = _stratified_codes(classes, counts, sizes, rng)
    else:
        codes = _random_codes(n, sizes, rng)

    got = np.bincount(codes, minlength=3)
    report["counts"] = {s: int(got[i]) for i, s in enumerate(SPLITS)}
    report["shares"] = {s: round(float(got[i] / n), 6) for i, s in enumerate(SPLITS)}
    if spec.time_column:
        report["time_ranges"] = {
            s: {
                "min": times[codes == i].min().isoformat(),
                "max": times[codes == i].max().isoformat(),
            }
            for i, s in enumerate(SPLITS)
            if got[i]
        }
    for i, split in enumerate(SPLITS):
        if spec.ratios[i] > 0 and got[i] < MIN_SPLIT_ROWS:
            warns.append(
                _warning(
                    "small_split",
                    f"The {split} split has {int(got[i])} row(s); with fewer than "
                    f"{MIN_SPLIT_ROWS} its scores are mostly noise.",
                    split=split,
                    rows=int(got[i]),
                )
            )
        if spec.method in ("group", "time") and (
            abs(got[i] / n - spec.ratios[i]) > RATIO_WARNING
        ):
            why = "groups are large" if spec.method == "group" else "many rows tie"
            warns.append(
                _warning(
                    "ratios_missed",
                    f"The {split} split holds {got[i] / n:.0%} of the rows instead "
                    f"of {spec.ratios[i]:.0%}: {why} at the cut.",
                    split=split,
                )
            )
    if classes is not None:
        report["class_balance"], class_warns = _class_balance(
            classes, uniques, codes, counts
        )
        warns.extend(class_warns)
    rows, values = _duplicates_across(df, codes)
    if rows:
        warns.append(
            _warning(
                "duplicates_across_splits",
                f"{rows:,} row(s) ({values:,} distinct) have an exact copy in another "
                "split, so the model is scored on rows it trained on; deduplicate in "
                "the cleaning recipe.",
                rows=rows,
                distinct=values,
            )
        )
    if supervised:
        skip = {c for c in (spec.group_column, spec.time_column) if c}
        warns.extend(
            _leakage(
                df,
                np.flatnonzero(codes == 0),
                target=target,
                task_type=task_type,
                skip=skip,
                rng=np.random.default_rng(spec.seed),
            )
        )
    return SplitResult(codes=codes, report=report)
