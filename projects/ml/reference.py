"""What a registered model version remembers of its training rows.

Two summaries of the training rows *as raw rows* (the columns of the uploaded file,
before the cleaning recipe, which is what a prediction request sends):

- :func:`input_schema`: per column its kind, the categories seen, the range seen
  and whether a value may be missing. Serving checks requests against it.
- :func:`reference_profile`: per column a distribution summary (numeric and
  dates: quantile bin edges and the count of training rows in each bin;
  categories: their shares), plus the distribution of the model's predictions on
  those rows. Monitoring compares live traffic against it, so it keeps bin edges
  and frequencies, never rows.

Pure pandas + numpy: no Django. Every result is plain JSON (NaN becomes None).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from projects.ml.metrics import positive_label

__all__ = [
    "KINDS",
    "MAX_CATEGORIES",
    "input_schema",
    "prediction_summary",
    "reference_profile",
]

# Kinds of the schema. The profile's "identifier" is free text to a client.
KINDS = ("numeric", "categorical", "boolean", "datetime", "text")
# A categorical column with more distinct values than this gets no category list:
# a request's value cannot be checked against a list nobody could read.
MAX_CATEGORIES = 1_000
# Categories kept by name in the reference profile; the rest count as "other".
REFERENCE_CATEGORIES = 50
BINS = 10
OTHER = "(other)"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def schema_kind(profile_kind: str) -> str:
    """The schema's kind of a column the profile gave ``profile_kind``."""
    if profile_kind in KINDS:
        return profile_kind
    return "text"  # identifier, or anything unknown: free text


def _as_datetimes(values: pd.Series) -> pd.Series:
    if ptypes.is_datetime64_any_dtype(values.dtype):
        return values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(
            values.astype("string"), errors="coerce", format="mixed", utc=False
        )


def _iso(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).isoformat()


def _categories(values: pd.Series) -> list[str] | None:
    present = values.dropna()
    uniques = pd.unique(present.astype("string").to_numpy())
    if len(uniques) > MAX_CATEGORIES:
        return None
    return sorted(str(u) for u in uniques)


def read_columns(
    columns: list[str],
    *,
    target: str | None,
    recipes: list[dict],
    feature_spec: dict | None,
) -> list[str]:
    """The raw columns a request must send: those the model reads.

    Left out: the target, a column a recipe drops, and a column the feature spec
    drops (an identifier, say) unless a cleaning step reads it (a derived column may
    be a feature). A client may still send them: extra columns are ignored.
    """
    dropped: set[str] = set()
    read: set[str] = set()
    for recipe in recipes:
        for step in recipe.get("steps") or []:
            if not step.get("enabled", True):
                continue
            names = [step["column"]] if "column" in step else step.get("columns") or []
            (dropped if step.get("op") == "drop_columns" else read).update(names)
    spec = (feature_spec or {}).get("columns") or {}
    not_features = {n for n, c in spec.items() if (c or {}).get("kind") == "drop"}
    return [
        c
        for c in columns
        if c != target and c not in dropped and (c not in not_features or c in read)
    ]


def input_schema(
    rows: pd.DataFrame,
    *,
    kinds: dict[str, str],
    columns: list[str],
) -> list[dict]:
    """The input schema's columns, from the training rows as raw rows.

    Parameters
    ----------
    rows : DataFrame
        The training rows as uploaded (before the cleaning recipe).
    kinds : dict
        Column name to the kind the uploaded version's profile gave it (an
        ``identifier`` becomes ``text``); a kind may be overridden by the caller,
        e.g. ``text`` for a column the recipe parses as numbers.
    columns : list of str
        The columns a request must send, in order.

    Returns
    -------
    list of dict
        ``{"name", "kind", "categories"? (categorical, boolean: the values seen,
        as text, sorted; left out above MAX_CATEGORIES), "min"?, "max"? (numeric:
        numbers; datetime: ISO strings), "example"? (text: the most common value,
        for documentation only), "nullable"}`` per column. ``nullable`` is
        True when a training row misses the value.
    """
    out = []
    for name in columns:
        values = rows[name] if name in rows.columns else pd.Series([], dtype=object)
        kind = schema_kind(kinds.get(name, "text"))
        column: dict[str, Any] = {"name": str(name), "kind": kind}
        if kind in ("categorical", "boolean"):
            categories = _categories(values)
            if categories is not None:
                column["categories"] = categories
        elif kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce")
            column["min"] = _num(numbers.min()) if numbers.notna().any() else None
            column["max"] = _num(numbers.max()) if numbers.notna().any() else None
        elif kind == "datetime":
            dates = _as_datetimes(values)
            column["min"] = _iso(dates.min()) if dates.notna().any() else None
            column["max"] = _iso(dates.max()) if dates.notna().any() else None
        elif kind == "text":
            # For a documentation example (the curl snippet), not a rule.
            seen = values.dropna().astype(str)
            if len(seen):
                column["example"] = seen.value_counts().index[0][:100]
        column["nullable"] = bool(values.isna().any())
        out.append(column)
    return out


def _numeric_summary(numbers: np.ndarray, bins: int) -> dict:
    """Quantile bin edges of the finite values and the count in each bin.

    Bin i holds ``edges[i] <= x < edges[i + 1]``; the last bin also holds its
    upper edge. Live values outside ``[edges[0], edges[-1]]`` fall in no bin: a
    monitor counts them apart (values never seen in training)."""
    finite = numbers[np.isfinite(numbers)]
    if not len(finite):
        return {"edges": [], "counts": [], "mean": None, "std": None}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
    if len(edges) == 1:
        counts = [len(finite)]
        edges = np.array([edges[0], edges[0]])
    else:
        counts = np.histogram(finite, bins=edges)[0].tolist()
    return {
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "mean": _num(finite.mean()),
        "std": _num(finite.std()),
    }


def _frequencies(values: pd.Series, top: int) -> dict:
    present = values.dropna().astype("string")
    n = len(present)
    counts = present.value_counts()
    kept = counts.iloc[:top]
    shares = {str(k): int(v) / n for k, v in kept.items()} if n else {}
    other = (int(counts.iloc[top:].sum()) / n) if n and len(counts) > top else 0.0
    return {
        "frequencies": shares,
        "other_share": other,
        "distinct": len(counts),
    }


def reference_profile(
    rows: pd.DataFrame,
    schema: list[dict],
    *,
    bins: int = BINS,
    top: int = REFERENCE_CATEGORIES,
) -> dict:
    """Per-column distribution summaries of the training rows (as raw rows).

    Parameters
    ----------
    rows : DataFrame
        The training rows as uploaded, or a seeded sample of them.
    schema : list of dict
        :func:`input_schema`'s columns (their kinds decide the summary).
    bins : int, default 10
        Quantile bins of numeric and date columns.
    top : int, default 50
        Categories kept by name; the others are summed as ``other_share``.

    Returns
    -------
    dict
        ``{"n_rows", "columns": {name: {"kind", "missing_share", ...}}}``:
        numeric: ``edges``, ``counts``, ``mean``, ``std``; datetime: the same
        over seconds since 1970 (``unit: "s"``); categorical and boolean:
        ``frequencies`` (share of the non-missing rows), ``other_share``,
        ``distinct``; text: ``distinct`` and ``mean_length``.
    """
    n = len(rows)
    out: dict[str, Any] = {}
    for column in schema:
        name, kind = column["name"], column["kind"]
        values = rows[name] if name in rows.columns else pd.Series([], dtype=object)
        entry: dict[str, Any] = {
            "kind": kind,
            "missing_share": float(values.isna().mean()) if len(values) else 0.0,
        }
        if kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
            entry.update(_numeric_summary(numbers, bins))
        elif kind == "datetime":
            dates = _as_datetimes(values)
            seconds = (
                dates.dropna().astype("datetime64[ns]").astype("int64").to_numpy() / 1e9
            )
            entry.update(_numeric_summary(seconds.astype("float64"), bins), unit="s")
        elif kind in ("categorical", "boolean"):
            entry.update(_frequencies(values, top))
        else:
            present = values.dropna().astype("string")
            entry.update(
                distinct=int(present.nunique()),
                mean_length=_num(present.str.len().mean()) if len(present) else None,
            )
        out[name] = entry
    return {"n_rows": int(n), "columns": out}


def prediction_summary(
    predictions: Any,
    *,
    task_type: str,
    proba: Any = None,
    classes: list | None = None,
    bins: int = BINS,
) -> dict:
    """The distribution of a model's predictions on the reference rows.

    Classification and clustering: the share of each predicted label
    (``frequencies``); a binary classifier with probabilities also gets the
    histogram of the positive class's probability on fixed edges 0, 0.1, ..., 1
    (``proba``: ``{"label", "edges", "counts"}``; the positive class is the
    second of ``classes``, the order of ``predict_proba``'s columns after
    sorting). Regression: quantile edges and counts, mean and std.
    """
    values = np.asarray(predictions)
    n = len(values)
    if task_type == "regression":
        return {
            "kind": "numeric",
            "n": n,
            **_numeric_summary(values.astype("float64"), bins),
        }
    labels = pd.Series(values).astype("string")
    counts = labels.value_counts()
    out: dict[str, Any] = {
        "kind": "labels",
        "n": n,
        "frequencies": {str(k): int(v) / n for k, v in counts.items()} if n else {},
    }
    if proba is not None and classes is not None and len(classes) == 2:
        positive = positive_label(classes)
        column = list(classes).index(positive)
        p = np.asarray(proba, dtype="float64")[:, column]
        edges = np.linspace(0, 1, bins + 1)
        out["proba"] = {
            "label": str(positive),
            "edges": [float(e) for e in edges],
            "counts": [int(c) for c in np.histogram(p, bins=edges)[0]],
        }
    return out
