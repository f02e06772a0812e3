"""check_rows: a prediction body against a version's input schema."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from projects.ml.serving import (
    MAX_ERRORS,
    RowError,
    body_rows,
    check_rows,
    example_row,
)

SCHEMA = {
    "columns": [
        {"name": "age", "kind": "numeric", "min": 18.0, "max": 80.0, "nullable": False},
        {"name": "income", "kind": "numeric", "min": 0.0, "max": 1e5, "nullable": True},
        {
            "name": "city",
            "kind": "categorical",
            "categories": ["Lyon", "Nice", "Paris"],
            "nullable": False,
        },
        {"name": "member", "kind": "boolean", "nullable": True},
        {
            "name": "joined",
            "kind": "datetime",
            "min": "2020-01-01T00:00:00",
            "max": "2025-12-31T00:00:00",
            "nullable": True,
        },
        {"name": "note", "kind": "text", "nullable": True},
    ],
    "target": "churn",
    "task_type": "classification",
    "classes": ["no", "yes"],
}


def row(**changes):
    base = {
        "age": 40,
        "income": 2500.5,
        "city": "Paris",
        "member": True,
        "joined": "2023-04-01T10:00:00",
        "note": "long-time customer",
    }
    base.update(changes)
    return base


def errors_of(body, **kwargs):
    with pytest.raises(RowError) as info:
        check_rows(body, SCHEMA, **kwargs)
    return info.value


def test_it_builds_the_frame_in_schema_order_from_records():
    frame, warnings = check_rows({"records": [row(), row(age=30)]}, SCHEMA)
    assert list(frame.columns) == ["age", "income", "city", "member", "joined", "note"]
    assert frame["age"].tolist() == [40.0, 30.0]
    assert frame["age"].dtype == "float64"
    assert frame["joined"].iloc[0] == pd.Timestamp("2023-04-01T10:00:00")
    assert frame["member"].tolist() == [True, True]
    assert warnings == []


def test_it_builds_the_same_frame_from_columns_and_data():
    records = [row(), row(age=30, income=None, member=None, note=None)]
    names = list(reversed(records[0]))  # any order
    body = {"columns": names, "data": [[r[n] for n in names] for r in records]}
    by_columns, _ = check_rows(body, SCHEMA)
    by_records, _ = check_rows({"records": records}, SCHEMA)
    pd.testing.assert_frame_equal(by_columns, by_records)
    assert math.isnan(by_columns["income"].iloc[1])


def test_it_ignores_extra_columns_in_both_shapes():
    frame, _ = check_rows({"records": [row(extra=1, other="x")]}, SCHEMA)
    assert "extra" not in frame.columns
    names = [*row(), "extra"]
    frame, _ = check_rows(
        {"columns": names, "data": [[*row().values(), "junk"]]}, SCHEMA
    )
    assert list(frame.columns) == [c["name"] for c in SCHEMA["columns"]]


def test_it_refuses_a_missing_column_naming_the_row():
    record = row()
    del record["city"]
    err = errors_of({"records": [row(), record]})
    assert err.errors == [
        {"row": 1, "column": "city", "message": "Row 1: column 'city' is missing."}
    ]
    assert err.field == "records"


def test_it_refuses_a_column_missing_from_columns():
    names = [n for n in row() if n != "age"]
    err = errors_of({"columns": names, "data": [[row()[n] for n in names]]})
    assert err.errors[0]["column"] == "age"
    assert err.errors[0]["row"] is None
    assert "missing from columns" in err.message
    assert err.field == "data"


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("age", "forty", "column 'age' expects a number, got the string 'forty'"),
        ("age", True, "column 'age' expects a number, got the boolean true"),
        ("income", [1], "column 'income' expects a number, got a list"),
        ("city", 3, "column 'city' expects text, got the number 3"),
        ("member", "yes", "column 'member' expects true or false"),
        ("member", 1, "column 'member' expects true or false, got the number 1"),
        ("joined", 20230401, "column 'joined' expects a date and time as text"),
        ("joined", "not a date", "column 'joined' expects a date and time (ISO"),
        ("note", {"a": 1}, "column 'note' expects text, got an object"),
    ],
)
def test_it_refuses_a_value_of_the_wrong_type(column, value, expected):
    err = errors_of({"records": [row(), row(**{column: value})]})
    assert len(err.errors) == 1
    assert err.errors[0]["row"] == 1
    assert err.errors[0]["column"] == column
    assert expected in err.errors[0]["message"]


def test_it_refuses_a_null_where_training_had_none():
    err = errors_of({"records": [row(age=None)]})
    assert err.errors == [
        {
            "row": 0,
            "column": "age",
            "message": "Row 0: column 'age' must have a value (training had no "
            "missing values there).",
        }
    ]


def test_it_accepts_a_null_in_a_nullable_column():
    frame, _ = check_rows({"records": [row(income=None, note=None)]}, SCHEMA)
    assert math.isnan(frame["income"].iloc[0])
    assert pd.isna(frame["note"].iloc[0])


def test_it_refuses_an_unseen_category_by_default():
    err = errors_of({"records": [row(city="Rome")]})
    assert err.errors[0]["column"] == "city"
    assert "'Rome', a category not seen in training" in err.message
    assert "known: 'Lyon', 'Nice', 'Paris'" in err.message


def test_it_predicts_an_unseen_category_with_a_warning_when_allowed():
    frame, warnings = check_rows(
        {"records": [row(), row(city="Rome")]}, SCHEMA, unseen="allow"
    )
    assert frame["city"].tolist() == ["Paris", "Rome"]
    assert warnings == [
        {
            "row": 1,
            "column": "city",
            "code": "unseen_category",
            "message": "Row 1: column 'city' has the string 'Rome', a category not "
            "seen in training.",
        }
    ]


def test_it_flags_numbers_and_dates_outside_the_training_range():
    _, warnings = check_rows(
        {"records": [row(age=95), row(income=-1), row(joined="2019-05-01")]}, SCHEMA
    )
    assert [(w["row"], w["column"], w["code"]) for w in warnings] == [
        (0, "age", "out_of_range"),
        (1, "income", "out_of_range"),
        (2, "joined", "out_of_range"),
    ]
    assert warnings[0]["message"] == (
        "Row 0: column 'age' is 95, outside the range seen in training [18, 80]."
    )


def test_it_lists_every_error_sorted_by_row_up_to_a_cap():
    err = errors_of({"records": [row(age="x", city=1), row(member="no")]})
    assert [(e["row"], e["column"]) for e in err.errors] == [
        (0, "age"),
        (0, "city"),
        (1, "member"),
    ]
    assert err.message.endswith("(2 more errors)")

    many = errors_of({"records": [row(age="x") for _ in range(50)]})
    assert len(many.errors) == MAX_ERRORS
    assert many.total == 50
    assert many.message.endswith("(49 more errors)")


def test_it_refuses_rows_of_the_wrong_shape():
    err = errors_of({"records": [row(), "not an object"]})
    assert err.errors == [
        {
            "row": 1,
            "column": None,
            "message": "Row 1: must be an object of column: value.",
        }
    ]
    names = list(row())
    err = errors_of({"columns": names, "data": [list(row().values()), [40]]})
    assert len(err.errors) == 1
    assert err.errors[0] == {
        "row": 1,
        "column": None,
        "message": "Row 1: must be a list of 6 values, one per name in columns.",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([row()], None),
        ({"rows": [row()]}, "records"),
        ({"records": {"age": 1}}, "records"),
        ({"columns": "age", "data": []}, "columns"),
        ({"columns": ["age"], "data": "x"}, "data"),
    ],
)
def test_it_refuses_a_body_of_neither_shape(body, field):
    with pytest.raises(RowError) as info:
        body_rows(body)
    assert info.value.field == field
    assert info.value.errors[0]["row"] is None


def test_it_counts_rows_of_both_shapes():
    assert body_rows({"records": [row()] * 3}) == 3
    assert body_rows({"columns": ["age"], "data": [[1], [2]]}) == 2


def test_it_accepts_an_empty_request():
    frame, warnings = check_rows({"records": []}, SCHEMA)
    assert len(frame) == 0
    assert warnings == []


def test_predict_with_proba_equals_predict_and_predict_proba():
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from projects.ml.serving import ServingPipeline

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 60).astype(float),
            "city": rng.choice(["Lyon", "Nice", "Paris"], 60),
        }
    )
    y = np.where(frame["age"] > 40, "yes", "no")
    pipeline = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("num", "passthrough", ["age"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    ]
                ),
            ),
            ("model", LogisticRegression()),
        ]
    ).fit(frame, y)
    serving = ServingPipeline(
        recipes=[],
        pipeline=pipeline,
        input_columns=["age", "city"],
        task_type="classification",
        classes=["no", "yes"],
    )
    checked, _ = check_rows(
        {"records": frame.head(10).to_dict(orient="records")},
        {
            "columns": [
                {"name": "age", "kind": "numeric", "nullable": False},
                {"name": "city", "kind": "categorical", "nullable": False},
            ]
        },
    )
    predictions, proba = serving.predict_with_proba(checked)
    assert predictions.tolist() == serving.predict(frame.head(10)).tolist()
    np.testing.assert_allclose(proba, serving.predict_proba(frame.head(10)))


def test_its_example_row_passes_the_check_and_looks_clean():
    schema = {
        "columns": [
            {"name": "age", "kind": "numeric", "min": 18, "max": 79, "nullable": False},
            {
                "name": "city",
                "kind": "categorical",
                "categories": [" Paris", "Lyon", "Paris"],
                "nullable": False,
            },
            {"name": "income", "kind": "text", "example": "$12,300", "nullable": True},
            {"name": "note", "kind": "text", "nullable": True},
        ]
    }
    row = example_row(schema)
    assert row == {"age": 48, "city": "Lyon", "income": "$12,300", "note": "text"}
    frame, warnings = check_rows({"records": [row]}, schema)
    assert len(frame) == 1 and warnings == []
