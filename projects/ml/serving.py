"""Serving: raw rows in, predictions out.

A registered model version is one :class:`ServingPipeline`: the fitted cleaning
recipes that made the training version from the uploaded file, replayed in serving
mode (``refit=False``: the values learned in training; steps that remove rows are
skipped), then the experiment's fitted scikit-learn pipeline (feature transformer
and estimator). A raw row from the original file therefore gets the prediction the
experiment would give its cleaned row.

Pure pandas + scikit-learn: no Django.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from projects.ml.cleaning import Recipe, apply_recipe

__all__ = ["RowError", "ServingPipeline", "body_rows", "check_rows", "example_row"]


class ServingPipeline:
    """The fitted recipes, then the fitted pipeline.

    Parameters
    ----------
    recipes : list of dict
        Fitted recipes (``Recipe.model_dump()``), oldest first: the first made the
        first prepared version from the upload.
    pipeline : sklearn.pipeline.Pipeline
        The experiment's fitted pipeline.
    input_columns : list of str
        The columns the pipeline was fitted on, in order.
    task_type : str
        ``classification``, ``regression`` or ``clustering``.
    classes : list, optional
        The class labels, in the order of ``predict_proba``'s columns.
    """

    def __init__(
        self,
        *,
        recipes: list[dict],
        pipeline: Any,
        input_columns: list[str],
        task_type: str,
        classes: list | None = None,
    ) -> None:
        self.recipes = [Recipe.model_validate(r).model_dump() for r in recipes]
        self.pipeline = pipeline
        self.input_columns = list(input_columns)
        self.task_type = task_type
        self.classes = list(classes) if classes is not None else None

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Replay the recipes on raw rows; the pipeline's input columns, in order."""
        out = X
        for recipe in self.recipes:
            out, _fitted, _report = apply_recipe(
                out, Recipe.model_validate(recipe), refit=False, serving=True
            )
        return out.reindex(columns=self.input_columns)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict(self.prepare(X))

    @property
    def has_proba(self) -> bool:
        return self.task_type == "classification" and hasattr(
            self.pipeline, "predict_proba"
        )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(self.prepare(X))

    def predict_with_proba(
        self, X: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and, for a classifier that has them, probabilities.

        The recipes and the feature transformer run once for both (on one row
        they are most of the time: scikit-learn's checks of a DataFrame).
        """
        prepared = self.prepare(X)
        steps = getattr(self.pipeline, "steps", None)
        if not steps or len(steps) < 2:
            predictions = self.pipeline.predict(prepared)
            proba = self.pipeline.predict_proba(prepared) if self.has_proba else None
            return predictions, proba
        features = self.pipeline[:-1].transform(prepared)
        estimator = self.pipeline[-1]
        predictions = estimator.predict(features)
        proba = estimator.predict_proba(features) if self.has_proba else None
        return predictions, proba


# ---------------------------------------------------------------------------
# Checking raw rows against a version's input schema
# ---------------------------------------------------------------------------

# A request with many bad rows gets the first ones, not thousands of lines.
MAX_ERRORS = 20
MAX_WARNINGS = 100
_MAX_GATHERED = 1000

_MISSING = object()
# A row of the wrong shape (already reported): its cells are not checked.
_BAD_ROW = object()


class RowError(ValueError):
    """A prediction request whose rows the schema refuses.

    ``errors`` lists ``{"row", "column", "message"}`` (``row`` is the 0-based
    index in the request, None when the whole body or a whole column is at
    fault), at most ``MAX_ERRORS``; ``field`` names the body's key at fault
    (``records``, ``columns`` or ``data``); ``str(err)`` is a sentence for people.
    """

    def __init__(
        self, errors: list[dict], *, field: str | None = None, total: int = 0
    ) -> None:
        self.errors = errors[:MAX_ERRORS]
        self.field = field
        self.total = max(total, len(errors))
        message = self.errors[0]["message"] if self.errors else "Invalid rows."
        more = self.total - 1
        if more > 0:
            message += f" ({more} more error{'s' if more > 1 else ''})"
        super().__init__(message)
        self.message = message


def _body_error(message: str, field: str | None) -> RowError:
    return RowError([{"row": None, "column": None, "message": message}], field=field)


def body_rows(body: Any) -> int:
    """How many rows a prediction body holds, checking only its shape.

    Raises
    ------
    RowError
        The body is neither ``{"records": [...]}`` nor ``{"columns": [...],
        "data": [[...]]}``.
    """
    if not isinstance(body, dict):
        raise _body_error(
            'The body must be a JSON object: {"records": [...]} or '
            '{"columns": [...], "data": [[...]]}.',
            None,
        )
    if "records" in body:
        records = body["records"]
        if not isinstance(records, list):
            raise _body_error(
                '"records" must be a list of objects, one per row.', "records"
            )
        return len(records)
    if "columns" in body or "data" in body:
        columns, data = body.get("columns"), body.get("data")
        if not isinstance(columns, list) or not all(
            isinstance(c, str) for c in columns
        ):
            raise _body_error('"columns" must be a list of column names.', "columns")
        if not isinstance(data, list):
            raise _body_error(
                '"data" must be a list of rows, each a list of values.', "data"
            )
        return len(data)
    raise _body_error(
        'Send the rows as {"records": [{...}, ...]} or as '
        '{"columns": [...], "data": [[...], ...]}.',
        "records",
    )


def _column_values(body: dict, names: list[str], errors: list[dict]) -> dict:
    """Each schema column's values in request order (``_MISSING`` where absent)."""
    if "records" in body:
        records = body["records"]
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                errors.append(
                    {
                        "row": i,
                        "column": None,
                        "message": f"Row {i}: must be an object of column: value.",
                    }
                )
        return {
            name: [
                r.get(name, _MISSING) if isinstance(r, dict) else _BAD_ROW
                for r in records
            ]
            for name in names
        }
    columns, data = body["columns"], body["data"]
    width = len(columns)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            errors.append(
                {
                    "row": i,
                    "column": None,
                    "message": f"Row {i}: must be a list of {width} values, one per "
                    "name in columns.",
                }
            )
    rows = [r if isinstance(r, list) and len(r) == width else [] for r in data]
    position = {name: j for j, name in enumerate(columns)}
    out = {}
    for name in names:
        j = position.get(name)
        if j is None:
            out[name] = None  # the whole column is missing
        else:
            out[name] = [r[j] if r else _BAD_ROW for r in rows]
    return out


def _describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return repr(value)


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_rows(
    rows: Any, schema: dict, *, unseen: str = "error"
) -> tuple[pd.DataFrame, list[dict]]:
    """Check a prediction body against a version's input schema.

    Parameters
    ----------
    rows : dict
        ``{"records": [{column: value, ...}, ...]}`` or ``{"columns": [...],
        "data": [[...], ...]}`` as parsed from JSON. Columns the schema does not
        name are ignored.
    schema : dict
        The version's schema: ``{"columns": [{"name", "kind", "categories"?,
        "min"?, "max"?, "nullable"}], ...}``.
    unseen : {"error", "allow"}
        What a category the model never saw is: an error, or a prediction with a
        warning.

    Returns
    -------
    frame : pandas.DataFrame
        The rows, one column per schema column in schema order (numbers as
        float, datetimes parsed, missing values as NaN).
    warnings : list of dict
        ``{"row", "column", "code", "message"}`` with code ``out_of_range`` (a
        number or date outside what training saw) or ``unseen_category``; at most
        ``MAX_WARNINGS``.

    Raises
    ------
    RowError
        Every error found (at most ``MAX_ERRORS`` listed): a missing column, a
        value of the wrong type, a null where training had none, an unseen
        category when ``unseen="error"``; each names its row and column.
    """
    n = body_rows(rows)
    field = "records" if "records" in rows else "data"
    columns = schema.get("columns") or []
    names = [c["name"] for c in columns]
    errors: list[dict] = []
    warnings: list[dict] = []
    total = 0

    def error(row, column, message):
        nonlocal total
        total += 1
        # Gathered column by column; sorted by row before the first are kept.
        if len(errors) < _MAX_GATHERED:
            errors.append({"row": row, "column": column, "message": message})

    def warn(row, column, code, message):
        if len(warnings) < MAX_WARNINGS:
            warnings.append(
                {"row": row, "column": column, "code": code, "message": message}
            )

    values_by_column = _column_values(rows, names, errors)
    total = len(errors)
    data: dict[str, Any] = {}
    for column in columns:
        name, kind = column["name"], column.get("kind", "numeric")
        values = values_by_column[name]
        if values is None:
            error(None, name, f"Column {name!r} is missing from columns.")
            continue
        nullable = bool(column.get("nullable", True))
        where = f"column {name!r}"
        clean: list[Any] = []
        for i, value in enumerate(values):
            if value is _MISSING or value is _BAD_ROW:
                if value is _MISSING:
                    error(i, name, f"Row {i}: {where} is missing.")
                clean.append(None)
                continue
            if _is_null(value):
                if not nullable:
                    error(
                        i,
                        name,
                        f"Row {i}: {where} must have a value (training had no "
                        "missing values there).",
                    )
                clean.append(None)
                continue
            if kind == "numeric":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    error(
                        i,
                        name,
                        f"Row {i}: {where} expects a number, got {_describe(value)}.",
                    )
                    value = None
                elif not math.isfinite(value):
                    error(i, name, f"Row {i}: {where} expects a finite number.")
                    value = None
            elif kind == "boolean":
                if not isinstance(value, bool):
                    error(
                        i,
                        name,
                        f"Row {i}: {where} expects true or false, got "
                        f"{_describe(value)}.",
                    )
                    value = None
            elif not isinstance(value, str):
                expects = "a date and time as text" if kind == "datetime" else "text"
                error(
                    i,
                    name,
                    f"Row {i}: {where} expects {expects}, got {_describe(value)}.",
                )
                value = None
            clean.append(value)
        data[name] = _typed(column, clean, error, warn, unseen)
    if errors:
        order = {name: j for j, name in enumerate(names)}
        errors.sort(
            key=lambda e: (
                -1 if e["row"] is None else e["row"],
                order.get(e["column"], -1),
            )
        )
        raise RowError(errors, field=field, total=total)
    frame = pd.DataFrame(data, columns=names, index=pd.RangeIndex(n))
    return frame, warnings


def _typed(column: dict, values: list, error, warn, unseen: str):
    """The column as the pipeline expects it; range and category checks."""
    name, kind = column["name"], column.get("kind", "numeric")
    where = f"column {name!r}"
    if kind == "numeric":
        # numpy, not pandas, for the checks: a one-row request pays per column.
        array = np.array([np.nan if v is None else v for v in values], dtype="float64")
        low, high = column.get("min"), column.get("max")
        if low is not None and high is not None and len(array):
            with np.errstate(invalid="ignore"):
                outside = np.flatnonzero((array < low) | (array > high))
            for i in outside:
                warn(
                    int(i),
                    name,
                    "out_of_range",
                    f"Row {i}: {where} is {array[i]:.10g}, outside the range "
                    f"seen in training [{low:.10g}, {high:.10g}].",
                )
        return array
    if kind == "boolean":
        if any(v is None for v in values):
            return pd.Series([np.nan if v is None else v for v in values], dtype=object)
        return pd.Series(values, dtype=bool)
    if kind == "datetime":
        parsed = []
        for i, value in enumerate(values):
            if value is None:
                parsed.append(pd.NaT)
                continue
            try:
                stamp = pd.Timestamp(value)
            except (ValueError, TypeError, OverflowError):
                error(
                    i,
                    name,
                    f"Row {i}: {where} expects a date and time (ISO 8601, e.g. "
                    f"2024-01-31 or 2024-01-31T08:30:00), got {_describe(value)}.",
                )
                stamp = pd.NaT
            parsed.append(stamp)
        series = pd.Series(parsed)
        series = pd.to_datetime(series, utc=_any_aware(parsed)).dt.tz_localize(None)
        low, high = column.get("min"), column.get("max")
        if low and high:
            low_t, high_t = _naive(low), _naive(high)
            for i, stamp in enumerate(series):
                if (
                    stamp is not pd.NaT
                    and not pd.isna(stamp)
                    and (stamp < low_t or stamp > high_t)
                ):
                    warn(
                        i,
                        name,
                        "out_of_range",
                        f"Row {i}: {where} is {stamp}, outside the range seen in "
                        f"training [{low}, {high}].",
                    )
        return series
    # categorical and text: strings, missing as NaN.
    categories = column.get("categories")
    if kind == "categorical" and categories is not None:
        known = set(categories)
        for i, value in enumerate(values):
            if value is not None and value not in known:
                message = (
                    f"Row {i}: {where} has {_describe(value)}, a category not seen "
                    "in training"
                )
                if unseen == "allow":
                    warn(i, name, "unseen_category", message + ".")
                else:
                    shown = ", ".join(repr(c) for c in categories[:10])
                    if len(categories) > 10:
                        shown += ", ..."
                    error(i, name, f"{message} (known: {shown}).")
    return pd.array(values, dtype="str")


def _any_aware(stamps: list) -> bool:
    return any(s is not pd.NaT and s.tzinfo is not None for s in stamps)


def _naive(text: str) -> pd.Timestamp:
    stamp = pd.Timestamp(text)
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def example_row(schema: dict) -> dict:
    """A row the schema accepts, for documentation (a curl example).

    Numbers are the middle of the training range (whole when both ends are),
    categories the first one seen without surrounding spaces, dates the earliest
    seen, text the value the schema gives as an example (the most common one in
    training); a nullable column without a range gets a plausible value all the
    same.
    """
    row: dict[str, Any] = {}
    for column in schema.get("columns") or []:
        kind = column.get("kind", "numeric")
        if kind == "numeric":
            low, high = column.get("min"), column.get("max")
            if low is None or high is None:
                value: Any = 0
            else:
                middle = (float(low) + float(high)) / 2
                whole = float(low).is_integer() and float(high).is_integer()
                value = round(middle) if whole else round(middle, 2)
        elif kind == "boolean":
            value = True
        elif kind == "datetime":
            value = column.get("min") or "2024-01-31T08:30:00"
        elif kind == "categorical" and column.get("categories"):
            # Not " Paris" when "Paris" was seen too: a clean-looking value.
            categories = column["categories"]
            value = next((c for c in categories if c == c.strip()), categories[0])
        else:
            value = column.get("example") or "text"
        row[column["name"]] = value
    return row
