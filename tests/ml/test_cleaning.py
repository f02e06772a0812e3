"""Cleaning recipes: every step, the runner, validation and the suggestion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.ml.cleaning import (
    apply_recipe,
    suggest_merges,
    suggest_recipe,
    validate_recipe,
)
from projects.ml.errors import SpecError
from projects.ml.profiling import profile_table


def kinds_of(df: pd.DataFrame) -> dict[str, str]:
    return {c["name"]: c["kind"] for c in profile_table(df)["columns"]}


def run(df: pd.DataFrame, *steps: dict, **kwargs):
    recipe = validate_recipe({"steps": list(steps)}, columns=kinds_of(df))
    return apply_recipe(df, recipe, **kwargs)


def text(values) -> pd.Series:
    return pd.Series(values, dtype="str")


# ---------------------------------------------------------------- each step


def test_it_drops_columns():
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    out, _, report = run(df, {"op": "drop_columns", "columns": ["b"]})
    assert list(out.columns) == ["a"]
    assert report[0]["columns_removed"] == ["b"]


def test_it_turns_placeholders_into_missing_in_text_and_numbers():
    df = pd.DataFrame(
        {
            "t": text(["ok", " N/A", "?", "", "fine", "Unknown"]),
            "n": [1, -999, 3, 4, 5, 6],
        }
    )
    out, _, report = run(
        df, {"op": "missing_tokens", "columns": ["t", "n"], "numbers": [-999]}
    )
    assert out["t"].isna().tolist() == [False, True, True, True, False, True]
    assert out["n"].isna().tolist() == [False, True, False, False, False, False]
    assert report[0]["values_changed"] == 5
    assert report[0]["missing_after"] - report[0]["missing_before"] == 5


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("mean", 2.0), ("median", 1.5), ("most_frequent", 1.0)],
)
def test_it_imputes_a_numeric_column(strategy, expected):
    df = pd.DataFrame({"x": [1.0, 1.0, np.nan, 2.0, 4.0]})
    out, fitted, report = run(df, {"op": "impute", "column": "x", "strategy": strategy})
    assert out["x"].tolist()[2] == expected
    assert fitted.steps[0].fitted == {"value": expected}
    assert report[0]["values_changed"] == 1


def test_it_imputes_text_with_a_constant_and_adds_an_indicator():
    df = pd.DataFrame({"c": text(["a", None, "b", None])})
    out, _, report = run(
        df,
        {
            "op": "impute",
            "column": "c",
            "strategy": "constant",
            "value": "none",
            "add_indicator": True,
        },
    )
    assert out["c"].tolist() == ["a", "none", "b", "none"]
    assert out["c_was_missing"].tolist() == [False, True, False, True]
    assert report[0]["columns_added"] == ["c_was_missing"]


def test_it_drops_rows_with_a_missing_value():
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0], "y": ["a", "b", "c"]})
    out, _, report = run(df, {"op": "impute", "column": "x", "strategy": "drop_rows"})
    assert out["y"].tolist() == ["a", "c"]
    assert report[0]["rows_removed"] == 1


def test_it_removes_exact_duplicates_and_duplicates_on_a_key():
    df = pd.DataFrame({"k": [1, 1, 2, 2], "v": ["a", "a", "b", "c"]})
    out, _, _ = run(df, {"op": "deduplicate"})
    assert out["v"].tolist() == ["a", "b", "c"]
    out, _, _ = run(df, {"op": "deduplicate", "key": ["k"], "keep": "last"})
    assert out["v"].tolist() == ["a", "c"]


def test_it_trims_whitespace_and_unifies_case():
    df = pd.DataFrame({"c": text(["  Paris", "paris ", "LONDON", None])})
    out, _, report = run(
        df,
        {"op": "trim_whitespace", "columns": ["c"]},
        {"op": "unify_case", "columns": ["c"], "case": "title"},
    )
    assert out["c"].tolist()[:3] == ["Paris", "Paris", "London"]
    assert pd.isna(out["c"].iloc[3])
    assert [r["values_changed"] for r in report] == [2, 2]


def test_it_proposes_merge_groups_for_spelling_variants():
    s = text(["Male"] * 5 + ["male "] * 2 + ["M"] + ["Female"] * 4 + ["F", "other"])
    groups = suggest_merges(s)
    assert sorted(groups) == ["Female", "Male"]
    assert sorted(groups["Male"]) == ["M", "Male", "male "]
    assert sorted(groups["Female"]) == ["F", "Female"]


def test_it_does_not_merge_a_letter_two_categories_start_with():
    groups = suggest_merges(text(["Mars", "Mercury", "M", "Venus"]))
    assert groups == {}


def test_it_merges_spelling_variants():
    df = pd.DataFrame({"sex": text(["Male", "male ", "M", "Female", "F"])})
    out, _, report = run(
        df,
        {
            "op": "merge_categories",
            "column": "sex",
            "groups": {"Male": ["male ", "M"], "Female": ["F"]},
        },
    )
    assert out["sex"].tolist() == ["Male", "Male", "Male", "Female", "Female"]
    assert report[0]["values_changed"] == 3


def test_it_maps_values_by_a_table_in_text_and_number_columns():
    df = pd.DataFrame({"c": text(["y", "n", "y"]), "n": [1, 2, 3]})
    out, _, _ = run(
        df,
        {"op": "map_values", "column": "c", "mapping": {"y": "yes", "n": "no"}},
        {"op": "map_values", "column": "n", "mapping": {"2": 20}},
    )
    assert out["c"].tolist() == ["yes", "no", "yes"]
    assert out["n"].tolist() == [1, 20, 3]


@pytest.mark.parametrize(
    ("percent", "expected"),
    [("number", [1234.0, 5.0, 12.0, 7.0]), ("fraction", [1234.0, 5.0, 0.12, 7.0])],
)
def test_it_converts_numbers_stored_as_text(percent, expected):
    df = pd.DataFrame({"p": text(["1,234", "$5", "12%", " 7 ", "abc"])})
    out, _, report = run(df, {"op": "to_number", "column": "p", "percent": percent})
    assert out["p"].tolist()[:4] == expected
    assert pd.isna(out["p"].iloc[4])
    assert "1 could not be read" in report[0]["summary"]


def test_it_parses_dates_with_a_detected_format_and_remembers_it():
    df = pd.DataFrame({"d": text(["03/01/2024", "15/02/2024", "28/12/2023"])})
    out, fitted, report = run(df, {"op": "parse_dates", "column": "d"})
    assert out["d"].dt.month.tolist() == [1, 2, 12]
    assert fitted.steps[0].fitted == {"format": "%d/%m/%Y"}
    assert "%d/%m/%Y" in report[0]["summary"]


@pytest.mark.parametrize(
    ("action", "rows", "values"),
    [("clip", 6, [1, 2, 3, 4, 5, 8.5]), ("remove", 5, [1, 2, 3, 4, 5])],
)
def test_it_clips_or_removes_outliers_by_iqr(action, rows, values):
    df = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 100]})
    out, fitted, _ = run(
        df, {"op": "outliers", "column": "x", "action": action, "method": "iqr"}
    )
    assert len(out) == rows
    assert out["x"].tolist() == values
    assert fitted.steps[0].fitted["high"] == pytest.approx(4.75 + 1.5 * 2.5)


def test_it_flags_outliers_by_percentile_in_a_new_column():
    df = pd.DataFrame({"x": np.arange(100, dtype=float)})
    out, _, _ = run(
        df,
        {
            "op": "outliers",
            "column": "x",
            "method": "percentile",
            "lower": 0.05,
            "upper": 0.95,
            "action": "flag",
        },
    )
    assert out["x_outlier"].sum() == 10
    assert out["x"].tolist() == list(range(100))


def test_it_groups_rare_categories_into_other():
    df = pd.DataFrame({"c": text(["a"] * 50 + ["b"] * 48 + ["c", "d"])})
    out, fitted, report = run(
        df, {"op": "rare_categories", "column": "c", "min_share": 0.05}
    )
    assert out["c"].value_counts().to_dict() == {"a": 50, "b": 48, "other": 2}
    assert fitted.steps[0].fitted == {"keep": ["a", "b"]}
    assert report[0]["values_changed"] == 2


@pytest.mark.parametrize(
    ("operator", "value", "kept"),
    [
        ("gt", 2, [3, 4]),
        ("le", "2", [1, 2]),
        ("in", [1, 4], [1, 4]),
        ("not_in", [1, 4], [2, 3]),
        ("ne", 3, [1, 2, 4]),
    ],
)
def test_it_filters_rows_on_a_numeric_column(operator, value, kept):
    df = pd.DataFrame({"n": [1, 2, 3, 4]})
    out, _, report = run(
        df, {"op": "filter_rows", "column": "n", "operator": operator, "value": value}
    )
    assert out["n"].tolist() == kept
    assert report[0]["rows_removed"] == 4 - len(kept)


def test_it_filters_rows_on_dates_and_missing_values():
    df = pd.DataFrame(
        {
            "d": pd.to_datetime(["2024-01-01", "2024-06-01", None]),
            "t": text(["a", None, "b"]),
        }
    )
    out, _, _ = run(
        df,
        {"op": "filter_rows", "column": "d", "operator": "ge", "value": "2024-03-01"},
    )
    assert len(out) == 1
    out, _, _ = run(df, {"op": "filter_rows", "column": "t", "operator": "not_missing"})
    assert out["t"].tolist() == ["a", "b"]


# ---------------------------------------------------------------- the runner


def test_it_skips_switched_off_steps_and_leaves_the_input_alone():
    df = pd.DataFrame({"x": [1.0, np.nan]})
    before = df.copy()
    out, _, report = run(
        df, {"op": "impute", "column": "x", "strategy": "mean", "enabled": False}
    )
    assert out["x"].isna().sum() == 1
    assert report[0]["summary"] == "Switched off."
    pd.testing.assert_frame_equal(df, before)


def test_it_replays_learned_values_on_new_data_without_refitting():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan], "c": text(list("aabz"))})
    _, fitted, _ = run(
        train,
        {"op": "impute", "column": "x", "strategy": "mean"},
        {"op": "rare_categories", "column": "c", "min_share": 0.3},
    )
    new = pd.DataFrame({"x": [np.nan, 100.0], "c": text(["z", "a"])})
    out, _, _ = apply_recipe(new, fitted, refit=False)
    assert out["x"].tolist() == [2.0, 100.0]
    assert out["c"].tolist() == ["other", "a"]


def test_it_refuses_to_replay_a_step_that_never_learned():
    df = pd.DataFrame({"x": [1.0, np.nan]})
    recipe = validate_recipe(
        {"steps": [{"op": "impute", "column": "x", "strategy": "mean"}]},
        columns={"x": "numeric"},
    )
    with pytest.raises(SpecError) as err:
        apply_recipe(df, recipe, refit=False)
    assert err.value.field == "steps.0.fitted"


def test_it_replays_dropping_rows_with_a_missing_value_on_new_data():
    # Dropping learns nothing: a fitted recipe with it applies again (retraining).
    _, fitted, _ = run(
        pd.DataFrame({"x": [1.0, np.nan]}),
        {"op": "impute", "column": "x", "strategy": "drop_rows"},
    )
    out, _, _ = apply_recipe(
        pd.DataFrame({"x": [np.nan, 5.0, np.nan]}), fitted, refit=False
    )
    assert out["x"].tolist() == [5.0]


def test_it_keeps_every_row_when_serving():
    df = pd.DataFrame({"x": [1.0, np.nan, 1.0]})
    out, _, report = run(
        df,
        {"op": "deduplicate"},
        {"op": "impute", "column": "x", "strategy": "drop_rows"},
        serving=True,
    )
    assert len(out) == 3
    assert [r["summary"] for r in report] == ["Skipped.", "Skipped."]


def test_it_reports_progress_after_each_step():
    seen = []
    run(
        pd.DataFrame({"x": [1, 2]}),
        {"op": "deduplicate"},
        {"op": "drop_columns", "columns": ["x"]},
        progress=lambda done, total, label: seen.append((done, total, label)),
    )
    assert seen == [(1, 2, "Remove duplicates"), (2, 2, "Drop columns")]


# ---------------------------------------------------------------- bad recipes


@pytest.mark.parametrize(
    ("steps", "field", "words"),
    [
        (
            [{"op": "impute", "column": "nope", "strategy": "mean"}],
            "steps.0.column",
            "no such column",
        ),
        (
            [
                {"op": "drop_columns", "columns": ["x"]},
                {"op": "impute", "column": "x", "strategy": "mean"},
            ],
            "steps.1.column",
            "dropped by step 1",
        ),
        (
            [{"op": "impute", "column": "c", "strategy": "mean"}],
            "steps.0.strategy",
            "numeric",
        ),
        (
            [{"op": "impute", "column": "x", "strategy": "constant"}],
            "steps.0",
            "needs a value",
        ),
        (
            [{"op": "impute", "column": "x", "strategy": "constant", "value": "abc"}],
            "steps.0.value",
            "give a number",
        ),
        ([{"op": "outliers", "column": "x", "k": 0}], "steps.0.k", "greater than 0"),
        ([{"op": "outliers", "column": "c"}], "steps.0.column", "needs numeric"),
        (
            [{"op": "rare_categories", "column": "c", "min_share": 0.9}],
            "steps.0.min_share",
            "less than 0.5",
        ),
        (
            [{"op": "filter_rows", "column": "c", "operator": "gt", "value": 1}],
            "steps.0.operator",
            "compares numbers",
        ),
        (
            [{"op": "filter_rows", "column": "x", "operator": "eq", "value": "abc"}],
            "steps.0.value",
            "not a number",
        ),
        (
            [{"op": "filter_rows", "column": "x", "operator": "in", "value": 3}],
            "steps.0",
            "non-empty list",
        ),
        ([{"op": "explode"}], "steps.0", "op"),
        ([{"op": "deduplicate", "surprise": 1}], "steps.0.surprise", "Extra inputs"),
        ([{"op": "trim_whitespace", "columns": ["x"]}], "steps.0.columns.0", "needs"),
    ],
)
def test_it_names_the_step_and_field_of_a_bad_recipe(steps, field, words):
    with pytest.raises(SpecError) as err:
        validate_recipe({"steps": steps}, columns={"x": "numeric", "c": "categorical"})
    assert err.value.field == field
    assert words in err.value.message


def test_it_refuses_a_recipe_that_is_not_an_object():
    with pytest.raises(SpecError) as err:
        validate_recipe(["drop"], columns={})
    assert err.value.field == "recipe"


def test_it_follows_types_through_the_steps():
    recipe = {
        "steps": [
            {"op": "to_number", "column": "p"},
            {"op": "outliers", "column": "p"},
        ]
    }
    validate_recipe(recipe, columns={"p": "categorical"})


# ---------------------------------------------------------------- suggestion


@pytest.fixture
def messy() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame(
        {
            "id": text([f"C{i:05d}" for i in range(n)]),
            "sex": text(rng.choice(["Male", "male ", "M", "Female", "female", "F"], n)),
            "income": np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(10, 1, n)),
            "age": np.where(rng.random(n) < 0.05, -999, rng.integers(18, 90, n)),
            "price": text(rng.choice(["$1,234", "$5", "12%", "7", "N/A"], n)),
            "city": text([f"city{int(x)}" for x in rng.zipf(1.5, n) % 60]),
            "const": text(["x"] * n),
            "y": text(rng.choice(["yes", "no", None], n, p=[0.5, 0.45, 0.05])),
        }
    )
    return pd.concat([df, df.head(5)], ignore_index=True)


def test_it_suggests_a_recipe_with_a_reason_per_step(messy):
    profile = profile_table(messy)
    recipe = suggest_recipe(messy, profile, target="y", task_type="classification")
    by_op = {}
    for step in recipe["steps"]:
        assert step["reason"]
        by_op.setdefault(step["op"], []).append(step)
    assert sorted(by_op["drop_columns"][0]["columns"]) == ["const", "id"]
    assert by_op["missing_tokens"][0]["numbers"] == [-999.0]
    assert by_op["to_number"][0]["column"] == "price"
    assert "Male" in by_op["merge_categories"][0]["groups"]
    assert by_op["deduplicate"][0]["reason"].startswith("5 exact duplicate")
    assert by_op["filter_rows"][0] == {
        "op": "filter_rows",
        "reason": by_op["filter_rows"][0]["reason"],
        "column": "y",
        "operator": "not_missing",
    }
    income = next(s for s in by_op["impute"] if s["column"] == "income")
    assert income["strategy"] == "median"
    share = messy["income"].isna().mean()
    assert income["reason"].startswith(f"income: {share:.0%} missing, skewed")
    assert {s["column"] for s in by_op["rare_categories"]} == {"city"}
    assert all(s.get("column") != "y" for s in by_op["impute"] + by_op["outliers"])


def test_it_applies_its_own_suggestion_cleanly(messy):
    profile = profile_table(messy)
    recipe = suggest_recipe(messy, profile, target="y", task_type="classification")
    parsed = validate_recipe(recipe, columns=kinds_of(messy))
    out, _, report = apply_recipe(messy, parsed)
    assert "id" not in out.columns
    assert out["y"].notna().all()
    assert out[["income", "age", "price"]].notna().all().all()
    assert out["sex"].nunique() == 2
    assert not out.duplicated().any()
    assert sum(r["rows_removed"] for r in report) == len(messy) - len(out)


# ---------------------------------------------------------------- properties (R17)

cell_text = st.sampled_from(["a", "A ", "b", "N/A", "?", "", " c", "1,000", "x y"])


@st.composite
def tables(draw):
    n = draw(st.integers(1, 40))
    t = draw(st.lists(st.one_of(st.none(), cell_text), min_size=n, max_size=n))
    x = draw(
        st.lists(
            st.one_of(
                st.none(),
                st.sampled_from([-999.0, 0.0, 1.5, 1e6]),
                st.floats(-1e3, 1e3, allow_nan=False),
            ),
            min_size=n,
            max_size=n,
        )
    )
    return pd.DataFrame(
        {"t": pd.Series(t, dtype="str"), "x": pd.Series(x, dtype="float64")}
    )


EVERY_STEP = [
    {"op": "missing_tokens", "columns": ["t", "x"], "numbers": [-999]},
    {"op": "trim_whitespace", "columns": ["t"]},
    {"op": "unify_case", "columns": ["t"]},
    {"op": "merge_categories", "column": "t", "groups": {"a": ["A"]}},
    {"op": "map_values", "column": "t", "mapping": {"b": "bee"}},
    {"op": "rare_categories", "column": "t", "min_share": 0.2},
    {"op": "impute", "column": "x", "strategy": "median", "add_indicator": True},
    {"op": "impute", "column": "t", "strategy": "most_frequent"},
    {"op": "outliers", "column": "x", "action": "clip"},
    {"op": "outliers", "column": "x", "action": "flag", "method": "percentile"},
    {"op": "deduplicate"},
    {"op": "filter_rows", "column": "x", "operator": "ge", "value": -500},
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=tables())
def test_it_never_adds_rows_and_a_fitted_recipe_is_idempotent(df):
    recipe = validate_recipe(
        {"steps": EVERY_STEP}, columns={"t": "categorical", "x": "numeric"}
    )
    once, fitted, report = apply_recipe(df, recipe)
    assert len(once) <= len(df)
    assert all(r["rows_after"] <= r["rows_before"] for r in report)
    twice, _, _ = apply_recipe(once, fitted, refit=False)
    pd.testing.assert_frame_equal(once, twice)
