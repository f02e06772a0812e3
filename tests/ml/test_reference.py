"""The input schema and reference profile a model version keeps of its training
rows (pure functions, no database)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from projects.ml.reference import (
    MAX_CATEGORIES,
    input_schema,
    prediction_summary,
    read_columns,
    reference_profile,
)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 500
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "city": rng.choice(["Paris", "Lyon", "Nice"], n, p=[0.5, 0.3, 0.2]),
            "joined": pd.date_range("2020-01-01", periods=n, freq="D").astype(str),
            "code": [f"X{i}" for i in range(n)],
            "vip": rng.choice([True, False], n),
        }
    )
    frame.loc[:49, "age"] = np.nan
    return frame


KINDS = {
    "age": "numeric",
    "city": "categorical",
    "joined": "datetime",
    "code": "identifier",
    "vip": "boolean",
}


def test_it_describes_each_column_as_a_client_sends_it(rows):
    schema = input_schema(rows, kinds=KINDS, columns=list(KINDS))

    by = {c["name"]: c for c in schema}
    assert [c["name"] for c in schema] == list(KINDS)
    assert by["age"] == {
        "name": "age",
        "kind": "numeric",
        "min": rows["age"].min(),
        "max": rows["age"].max(),
        "nullable": True,
    }
    assert by["city"]["categories"] == ["Lyon", "Nice", "Paris"]
    assert not by["city"]["nullable"]
    assert by["joined"]["min"] == "2020-01-01T00:00:00"
    assert by["joined"]["max"] == "2021-05-14T00:00:00"
    # An identifier is free text: no category list to check against, only an
    # example for the documentation.
    code = by.pop("code")
    assert (code["kind"], code["nullable"], "categories" in code) == (
        "text",
        False,
        False,
    )
    assert code["example"] in set(rows["code"])
    assert by["vip"]["categories"] == ["False", "True"]
    json.dumps(schema)


def test_it_lists_no_categories_past_the_cap():
    many = pd.DataFrame({"c": [f"v{i}" for i in range(MAX_CATEGORIES + 1)]})
    (column,) = input_schema(many, kinds={"c": "categorical"}, columns=["c"])
    assert column == {"name": "c", "kind": "categorical", "nullable": False}


def test_it_bins_numbers_on_quantiles_and_counts_every_present_value(rows):
    schema = input_schema(rows, kinds=KINDS, columns=list(KINDS))
    profile = reference_profile(rows, schema)

    age = profile["columns"]["age"]
    assert profile["n_rows"] == 500
    assert age["missing_share"] == pytest.approx(0.1)
    assert sum(age["counts"]) == 450
    assert len(age["edges"]) == len(age["counts"]) + 1
    assert (
        age["edges"][0] == rows["age"].min() and age["edges"][-1] == rows["age"].max()
    )
    # Quantile bins hold about the same number of rows each.
    assert max(age["counts"]) < 2.5 * min(age["counts"])
    city = profile["columns"]["city"]
    assert sum(city["frequencies"].values()) == pytest.approx(1)
    assert city["frequencies"]["Paris"] == pytest.approx(
        (rows["city"] == "Paris").mean()
    )
    joined = profile["columns"]["joined"]
    assert joined["unit"] == "s" and sum(joined["counts"]) == 500
    assert profile["columns"]["code"]["distinct"] == 500
    json.dumps(profile)


def test_it_sums_rare_categories_as_other():
    frame = pd.DataFrame({"c": ["a"] * 50 + [f"r{i}" for i in range(50)]})
    (column,) = input_schema(frame, kinds={"c": "categorical"}, columns=["c"])
    summary = reference_profile(frame, [column], top=2)["columns"]["c"]
    assert summary["frequencies"]["a"] == 0.5
    assert len(summary["frequencies"]) == 2
    assert summary["other_share"] == pytest.approx(0.49)
    assert summary["distinct"] == 51


def test_it_keeps_a_constant_column_in_one_bin():
    frame = pd.DataFrame({"x": [3.0] * 10})
    (column,) = input_schema(frame, kinds={"x": "numeric"}, columns=["x"])
    summary = reference_profile(frame, [column])["columns"]["x"]
    assert summary["edges"] == [3.0, 3.0] and summary["counts"] == [10]


def test_it_summarises_predictions_of_each_task():
    labels = np.array(["no"] * 30 + ["yes"] * 10)
    proba = np.column_stack([np.linspace(1, 0, 40), np.linspace(0, 1, 40)])
    out = prediction_summary(
        labels, task_type="classification", proba=proba, classes=["no", "yes"]
    )
    assert out["frequencies"] == {"no": 0.75, "yes": 0.25}
    assert out["proba"]["label"] == "yes"
    assert out["proba"]["edges"][0] == 0 and out["proba"]["edges"][-1] == 1
    assert sum(out["proba"]["counts"]) == 40

    values = np.linspace(0, 100, 101)
    regression = prediction_summary(values, task_type="regression")
    assert regression["kind"] == "numeric" and sum(regression["counts"]) == 101
    assert regression["mean"] == pytest.approx(50)

    clusters = prediction_summary(np.array([0, 0, 1, 2]), task_type="clustering")
    assert clusters["frequencies"] == {"0": 0.5, "1": 0.25, "2": 0.25}
    assert "proba" not in clusters


def test_it_asks_only_for_the_columns_the_model_reads():
    recipes = [
        {
            "steps": [
                {"op": "drop_columns", "columns": ["customer_id"]},
                {"op": "impute", "column": "income", "strategy": "median"},
                {"op": "drop_columns", "columns": ["age"], "enabled": False},
            ]
        }
    ]
    spec = {"columns": {"code": {"kind": "drop"}, "income": {"kind": "drop"}}}
    columns = ["customer_id", "age", "income", "code", "city", "churn"]
    assert read_columns(
        columns, target="churn", recipes=recipes, feature_spec=spec
    ) == ["age", "income", "city"]
