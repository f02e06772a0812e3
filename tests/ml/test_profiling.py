from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats.contingency import association

from projects.ml.cleaning import suggest_recipe
from projects.ml.io import read_parquet, read_table, write_parquet
from projects.ml.profiling import (
    analyze_groups,
    analyze_target,
    correlation_ratio,
    cramers_v,
    profile_table,
)

N = 200


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _column(profile: dict, name: str) -> dict:
    return next(c for c in profile["columns"] if c["name"] == name)


def _codes(column: dict) -> list[str]:
    return [w["code"] for w in column["warnings"]]


def _profile_one(values, name: str = "col") -> dict:
    return _column(profile_table(pd.DataFrame({name: values})), name)


def _assert_json_safe(obj) -> None:
    json.dumps(obj, allow_nan=False)


# ---------------------------------------------------------------- kinds


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (_rng().normal(size=N), "numeric"),
        (_rng().integers(0, 4, N), "numeric"),
        (_rng().random(N) < 0.5, "boolean"),
        (_rng().choice(["Yes", "No"], N), "boolean"),
        (_rng().choice([" true", "FALSE"], N), "boolean"),
        (_rng().integers(0, 2, N), "boolean"),
        (pd.date_range("2024-01-01", periods=N, freq="D"), "datetime"),
        (
            pd.date_range("2024-01-01", periods=N, freq="h", tz="Europe/Paris"),
            "datetime",
        ),
        (pd.date_range("2024-01-01", periods=N).strftime("%Y-%m-%d"), "datetime"),
        (pd.date_range("2024-01-01", periods=N).strftime("%d/%m/%Y %H:%M"), "datetime"),
        (
            [f"a fairly long sentence about the item numbered {i}" for i in range(N)],
            "text",
        ),
        (_rng().permutation(N), "identifier"),
        ([f"u-{i:05d}" for i in range(N)], "identifier"),
        ([f"{i:032x}-{i:04d}" for i in range(N)], "identifier"),
        (_rng().choice(["red", "green", "blue"], N), "categorical"),
    ],
)
def test_it_infers_the_kind_of_a_column(values, kind):
    assert _profile_one(values)["kind"] == kind


def test_it_calls_a_nearly_unique_column_named_like_an_id_an_identifier():
    values = [f"c{i % (N - 5)}" for i in range(N)]
    assert _profile_one(values, name="customer_id")["kind"] == "identifier"
    assert _profile_one(values, name="paid")["kind"] == "categorical"


def test_it_keeps_integer_codes_with_few_values_numeric():
    column = _profile_one(_rng().integers(1, 6, N))
    assert column["kind"] == "numeric"
    assert column["histogram"]["counts"] and len(column["histogram"]["counts"]) == 5


def test_it_reads_numbers_in_an_object_column_as_numeric():
    values = pd.Series([1, 2.5, None, 4, 7] * 20, dtype=object)
    column = _profile_one(values)
    assert column["kind"] == "numeric"
    assert column["missing"] == 20
    assert column["stats"]["max"] == 7.0


# ------------------------------------------------------------- warnings


def test_it_says_nothing_about_a_clean_column():
    df = pd.DataFrame(
        {
            "x": _rng(1).normal(size=N),
            "colour": _rng(2).choice(["red", "green", "blue"], N),
            "flag": _rng(3).random(N) < 0.5,
            "when": pd.date_range("2024-01-01", periods=N),
        }
    )
    profile = profile_table(df)
    assert profile["warnings"] == []
    assert all(c["warnings"] == [] for c in profile["columns"])


def test_it_warns_about_a_constant_column():
    column = _profile_one(["same"] * N)
    assert _codes(column) == ["constant"]
    assert "'col'" in column["warnings"][0]["message"]


def test_it_warns_about_a_mostly_missing_column():
    values = [np.nan] * 120 + list(range(80))
    column = _profile_one(values)
    assert "mostly_missing" in _codes(column)
    assert (
        "120" in column["warnings"][_codes(column).index("mostly_missing")]["message"]
    )
    assert "mostly_missing" not in _codes(
        _profile_one([np.nan] * 80 + list(range(120)))
    )


def test_it_warns_about_high_cardinality():
    column = _profile_one([f"v{i % 60}" for i in range(N)])
    assert column["kind"] == "categorical"
    assert "high_cardinality" in _codes(column)
    assert "60" in column["warnings"][0]["message"]
    assert "high_cardinality" not in _codes(
        _profile_one([f"v{i % 8}" for i in range(N)])
    )


def test_it_warns_about_an_identifier():
    column = _profile_one(_rng().permutation(N), name="row")
    assert _codes(column) == ["identifier"]


def test_it_warns_about_a_skewed_column():
    column = _profile_one(np.exp(_rng().normal(size=N) * 1.5))
    assert "skewed" in _codes(column)
    assert "skewed" not in _codes(_profile_one(_rng().normal(size=N)))


def test_it_warns_about_numeric_sentinels_that_stand_for_missing():
    values = np.r_[_rng().uniform(10, 50, N - 10), [-999.0] * 10]
    column = _profile_one(values)
    assert "disguised_missing" in _codes(column)
    message = column["warnings"][_codes(column).index("disguised_missing")]["message"]
    assert "-999" in message and "10 rows" in message


def test_it_warns_about_minus_one_only_in_a_non_negative_column():
    ages = np.r_[_rng().integers(18, 90, N - 10), [-1] * 10]
    assert "disguised_missing" in _codes(_profile_one(ages))
    signed = np.r_[_rng().normal(size=N - 10), [-1.0] * 10]
    assert "disguised_missing" not in _codes(_profile_one(signed))


def test_it_ignores_a_sentinel_value_that_is_rare_or_within_the_data():
    rare = np.r_[_rng().uniform(10, 50, N - 1), [-999.0]]
    assert "disguised_missing" not in _codes(_profile_one(rare))
    within = np.r_[_rng().uniform(0, 2000, N - 10), [999.0] * 10]
    assert "disguised_missing" not in _codes(_profile_one(within))


def test_it_counts_placeholder_strings_as_disguised_missing():
    values = (
        ["?"] * 5 + ["N/A"] * 3 + ["   "] * 2 + ["unknown"] + ["x", "y"] * 94 + ["z"]
    )
    column = _profile_one(values)
    assert _codes(column) == ["disguised_missing"]
    assert "11 rows" in column["warnings"][0]["message"]
    assert column["missing"] == 0


def test_it_warns_about_numbers_stored_as_text():
    rng = _rng()
    for values in (
        [f"{v:,}" for v in rng.integers(1_000, 90_000, N)],
        [f"${v}" for v in rng.integers(1, 50, N)],
        [f"{v}%" for v in rng.integers(0, 100, N)],
    ):
        column = _profile_one(values)
        assert _codes(column) == ["numbers_as_text"]
        assert column["kind"] == "categorical"
    assert "numbers_as_text" not in _codes(_profile_one(rng.choice(["a1", "b2"], N)))


def test_it_reports_numbers_as_text_despite_a_few_placeholders():
    values = ["1,200", "3,400", "5,600", "7,800"] * 45 + ["N/A"] * 20
    assert set(_codes(_profile_one(values))) == {"numbers_as_text", "disguised_missing"}


def test_it_warns_about_outliers_above_five_percent():
    values = np.r_[_rng().normal(size=N - 20), [50.0] * 20]
    column = _profile_one(values)
    assert "outliers" in _codes(column)
    assert "outliers" not in _codes(_profile_one(_rng().uniform(size=N)))


def test_it_names_the_one_value_of_a_column_whose_iqr_is_zero():
    values = np.r_[np.zeros(160), _rng().uniform(1, 100, 40)]
    column = _profile_one(values)
    warning = next(w for w in column["warnings"] if w["code"] == "mostly_one_value")
    assert "mostly one value (zeros: 80%)" in warning["message"]
    assert (warning["value"], warning["count"]) == (0.0, 160)
    # The Tukey fences [0, 0] would call every non-zero value an outlier.
    assert "outliers" not in _codes(column)
    assert column["outliers"] is None
    assert "[0, 0]" not in json.dumps(column)

    around = _rng().normal(size=60)
    sevens = _profile_one(np.r_[around[:30] - 3, np.full(140, 7.0), around[30:] + 12])
    assert _codes(sevens) == ["mostly_one_value"]
    assert "mostly one value (7: 70%)" in sevens["warnings"][0]["message"]
    assert "mostly_one_value" not in _codes(_profile_one(_rng().normal(size=N)))
    assert "mostly_one_value" not in _codes(_profile_one(np.full(N, 3.0)))


def _loans_csv(path) -> None:
    """A loans file as users upload it: empty cells in columns of every kind."""
    rows = ["home,verification_income_joint,income,note,pays_late,grade"]
    for i in range(50):
        home = "" if i % 8 == 3 else ("RENT", "OWN", "MORTGAGE")[i % 3]
        joint = ("Verified", "Not Verified")[i % 2] if i % 5 == 0 else ""
        income = "" if i % 10 == 7 else f'"{1_000 + 37 * i:,}"'
        note = "   " if i % 16 == 5 else ("a", "b")[i % 2]
        late = 0 if i % 5 else i
        grade = "" if i % 10 == 9 else "ABC"[i % 3]
        rows.append(f"{home},{joint},{income},{note},{late},{grade}")
    path.write_text("\n".join(rows) + "\n")


def _uploaded(tmp_path) -> pd.DataFrame:
    """The CSV read, stored as Parquet and read back, as the profile job does."""
    _loans_csv(tmp_path / "loans.csv")
    table, _ = read_table(tmp_path / "loans.csv", filename="loans.csv")
    write_parquet(table, tmp_path / "stored.parquet")
    return read_parquet(tmp_path / "stored.parquet")


def test_it_counts_empty_csv_cells_as_missing_in_every_column_kind(tmp_path):
    profile = profile_table(_uploaded(tmp_path))

    home = _column(profile, "home")
    assert (home["kind"], home["missing"]) == ("categorical", 6)
    assert "" not in [t["value"] for t in home["top"]]
    assert home["distinct"] == 3
    assert _codes(home) == []

    joint = _column(profile, "verification_income_joint")
    assert joint["missing"] == 40
    assert "mostly_missing" in _codes(joint)
    assert "disguised_missing" not in _codes(joint)

    income = _column(profile, "income")
    assert income["missing"] == 5
    assert _codes(income) == ["numbers_as_text"]

    grade = _column(profile, "grade")
    assert (grade["kind"], grade["missing"]) == ("categorical", 5)

    # Whitespace-only text is a value the profile flags, not an empty cell.
    note = _column(profile, "note")
    assert note["missing"] == 0
    assert _codes(note) == ["disguised_missing"]
    assert note["warnings"][0]["count"] == 3


def test_it_reports_empty_target_cells_in_the_target_analysis(tmp_path):
    result = analyze_target(
        _uploaded(tmp_path), target="grade", task_type="classification"
    )

    assert result["ok"]
    missing = next(w for w in result["warnings"] if w["code"] == "target_has_missing")
    assert "missing in 5 rows (10%)" in missing["message"]
    classes = result["distribution"]["classes"]
    assert sorted(c["value"] for c in classes) == ["A", "B", "C"]
    assert sum(c["count"] for c in classes) == 45


def test_it_suggests_a_recipe_for_the_empty_cells(tmp_path):
    df = _uploaded(tmp_path)
    profile = profile_table(df)

    recipe = suggest_recipe(df, profile, target="grade", task_type="classification")

    steps = {(s["op"], s.get("column")): s for s in recipe["steps"]}
    assert steps[("drop_columns", None)]["columns"] == ["verification_income_joint"]
    assert steps[("filter_rows", "grade")]["operator"] == "not_missing"
    assert "missing in 5 row(s)" in steps[("filter_rows", "grade")]["reason"]
    assert steps[("impute", "home")]["strategy"] == "most_frequent"
    assert steps[("to_number", "income")]
    assert steps[("impute", "income")]["reason"].startswith("income: 10% missing")
    assert steps[("missing_tokens", None)]["columns"] == ["note"]
    # Mostly zeros is not an outlier problem: nothing clips pays_late.
    assert ("outliers", "pays_late") not in steps
    assert "mostly_one_value" in _codes(_column(profile, "pays_late"))


def test_it_warns_about_duplicate_rows_at_table_level():
    df = pd.DataFrame({"a": [1, 2, 3, 1, 1], "b": ["x", "y", "z", "x", "x"]})
    profile = profile_table(df)
    assert profile["duplicate_rows"] == 2
    table = [w for w in profile["warnings"] if w["code"] == "duplicate_rows"]
    assert table == [
        {
            "column": None,
            "code": "duplicate_rows",
            "message": table[0]["message"],
        }
    ]
    assert "2 rows" in table[0]["message"]


def test_it_flattens_column_warnings_into_table_warnings_with_the_column_name():
    df = pd.DataFrame({"k": ["same"] * N, "x": _rng().normal(size=N)})
    warnings = profile_table(df)["warnings"]
    assert warnings == [
        {"column": "k", "code": "constant", "message": warnings[0]["message"]}
    ]


def test_it_warns_about_infinite_values():
    values = np.r_[_rng().normal(size=N - 3), [np.inf, -np.inf, np.inf]]
    column = _profile_one(values)
    assert "infinite" in _codes(column)
    assert column["stats"]["max"] < 10


# --------------------------------------------------------------- counts


def _messy_frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = _rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    cat = rng.choice(["a", "b", "c", None], n)
    df = pd.DataFrame(
        {
            "x": x,
            "i": rng.integers(0, 5, n),
            "cat": pd.array(cat, dtype="str"),
            "when": pd.to_datetime(rng.integers(0, 10**9, n), unit="s"),
            "flag": rng.random(n) < 0.3,
        }
    )
    df.loc[rng.random(n) < 0.05, "when"] = pd.NaT
    return pd.concat([df, df.iloc[:37]], ignore_index=True)


def test_it_counts_like_pandas():
    df = _messy_frame()
    profile = profile_table(df)
    assert profile["n_rows"] == len(df)
    assert profile["n_columns"] == df.shape[1]
    assert profile["duplicate_rows"] == int(df.duplicated().sum()) == 37
    assert profile["memory_bytes"] == int(df.memory_usage(deep=True).sum())
    for name in df.columns:
        column = _column(profile, name)
        assert column["missing"] == int(df[name].isna().sum())
        assert column["missing_share"] == pytest.approx(df[name].isna().mean())
        assert column["distinct"] == int(df[name].nunique())


def test_it_counts_duplicate_rows_of_an_object_frame_like_pandas():
    df = pd.DataFrame(
        {
            "a": pd.Series([1, "1", None, 1, None], dtype=object),
            "b": [0.0, 0, 1, -0.0, 1],
        }
    )
    assert profile_table(df)["duplicate_rows"] == int(df.duplicated().sum())


def test_it_counts_top_values_like_value_counts():
    df = _messy_frame()
    column = _column(profile_table(df), "cat")
    expected = df["cat"].value_counts()
    assert [(t["value"], t["count"]) for t in column["top"]] == list(
        zip(expected.index, expected.to_list(), strict=True)
    )
    assert column["top"][0]["share"] == pytest.approx(expected.iloc[0] / len(df))


def test_it_computes_numeric_stats_like_pandas():
    s = _messy_frame()["x"]
    stats = _column(profile_table(s.to_frame()), "x")["stats"]
    assert stats["min"] == s.min() and stats["max"] == s.max()
    assert stats["mean"] == pytest.approx(s.mean())
    assert stats["std"] == pytest.approx(s.std())
    assert stats["skew"] == pytest.approx(s.skew())
    for key, q in [("q05", 0.05), ("q25", 0.25), ("q50", 0.5), ("q75", 0.75)]:
        assert stats[key] == pytest.approx(s.quantile(q))


def test_it_counts_outliers_like_a_hand_iqr_computation():
    s = pd.Series(np.r_[_rng().normal(size=300), [9.0, -8.0, 12.0, 15.0]])
    q1, q3 = s.quantile(0.25), s.quantile(0.75)
    iqr = q3 - q1
    expected = int(((s < q1 - 1.5 * iqr) | (s > q3 + 1.5 * iqr)).sum())
    assert _profile_one(s)["outliers"] == expected


def test_it_bins_a_numeric_histogram_in_at_most_thirty_bins():
    s = _rng().normal(size=5_000)
    histogram = _profile_one(s)["histogram"]
    assert len(histogram["counts"]) == 30
    assert len(histogram["edges"]) == 31
    assert sum(histogram["counts"]) == 5_000


def test_it_bins_a_datetime_column_over_time_with_iso_edges():
    when = pd.Series(pd.date_range("2024-01-01", periods=1_000, freq="h"))
    column = _profile_one(when)
    assert column["stats"]["min"] == "2024-01-01T00:00:00"
    assert column["stats"]["max"] == when.max().isoformat()
    assert column["stats"]["mean"] is None
    edges = column["histogram"]["edges"]
    assert edges[0] == "2024-01-01T00:00:00"
    assert pd.Timestamp(edges[-1]) == when.max()
    assert sum(column["histogram"]["counts"]) == 1_000


def test_it_profiles_dates_stored_as_text_from_their_values():
    when = pd.date_range("2023-06-01", periods=N, freq="D")
    column = _profile_one(when.strftime("%Y-%m-%d"))
    assert column["stats"]["min"] == "2023-06-01T00:00:00"
    assert sum(column["histogram"]["counts"]) == N


# ---------------------------------------------------------- correlation


def test_it_computes_the_correlation_like_dataframe_corr():
    rng = _rng()
    a = rng.normal(size=N)
    df = pd.DataFrame(
        {
            "a": a,
            "b": a * 2 + rng.normal(size=N),
            "c": rng.normal(size=N),
            "label": rng.choice(["x", "y"], N),
        }
    )
    df.loc[::7, "b"] = np.nan
    correlation = profile_table(df)["correlation"]
    assert correlation["columns"] == ["a", "b", "c"]
    expected = df[["a", "b", "c"]].corr().to_numpy()
    np.testing.assert_allclose(correlation["matrix"], expected, atol=1e-6)


def test_it_correlates_at_most_thirty_columns_and_says_so():
    rng = _rng()
    df = pd.DataFrame({f"x{i}": rng.normal(size=100) for i in range(35)})
    df.loc[:10, ["x0", "x1", "x2", "x3", "x4"]] = np.nan
    correlation = profile_table(df)["correlation"]
    assert len(correlation["columns"]) == 30
    assert not {"x0", "x1", "x2", "x3", "x4"} & set(correlation["columns"])
    assert "30 of 35" in correlation["note"]


def test_it_breaks_ties_between_complete_columns_by_the_largest_variance():
    rng = _rng()
    df = pd.DataFrame({f"x{i}": rng.normal(size=1_000) for i in range(35)})
    quiet = ["x3", "x9", "x17", "x22", "x30"]
    for name in quiet:
        df[name] = df[name] * 1e-3
    # Rows are sampled for the matrix; the choice of columns still sees every row.
    correlation = profile_table(df, sample_rows=100)["correlation"]
    assert len(correlation["columns"]) == 30
    assert not set(quiet) & set(correlation["columns"])


def test_it_correlates_the_sampled_rows_of_each_numeric_column():
    rng = _rng()
    a = rng.normal(size=1_000)
    df = pd.DataFrame({"a": a, "b": a + rng.normal(size=1_000), "c": a * -1.0})
    df.loc[::9, "b"] = np.nan
    df.loc[5, "c"] = np.inf  # left out, as a missing value
    profile = profile_table(df, sample_rows=300, random_state=4)
    rows = np.sort(np.random.default_rng(4).choice(1_000, size=300, replace=False))
    expected = df.iloc[rows].replace(np.inf, np.nan).corr().to_numpy()
    np.testing.assert_allclose(profile["correlation"]["matrix"], expected, atol=1e-6)
    assert profile["correlation"]["matrix"][0][2] == -1.0


def test_it_has_no_correlation_with_fewer_than_two_numeric_columns():
    df = pd.DataFrame({"x": _rng().normal(size=N), "c": ["a", "b"] * (N // 2)})
    assert profile_table(df)["correlation"] is None


def test_it_samples_rows_for_the_correlation():
    rng = _rng()
    df = pd.DataFrame({"a": rng.normal(size=1_000), "b": rng.normal(size=1_000)})
    profile = profile_table(df, sample_rows=100, random_state=3)
    assert profile["sampled"] is True
    assert profile["sample_rows"] == 100
    assert _column(profile, "a")["missing"] == 0
    assert sum(_column(profile, "a")["histogram"]["counts"]) == 1_000
    again = profile_table(df, sample_rows=100, random_state=3)
    assert again["correlation"] == profile["correlation"]
    whole = profile_table(df)
    assert whole["sampled"] is False and whole["sample_rows"] == 1_000


def test_it_reports_progress_for_each_column_at_most_about_fifty_times():
    calls: list[tuple[int, str]] = []
    df = pd.DataFrame({f"c{i}": range(3) for i in range(200)})
    profile_table(
        df, progress=lambda percent, message: calls.append((percent, message))
    )
    assert 10 < len(calls) <= 50
    percents = [p for p, _ in calls]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert all(isinstance(m, str) and m for _, m in calls)


# ------------------------------------------------------------ JSON safety


def test_it_returns_json_safe_values_for_awkward_frames():
    frames = [
        pd.DataFrame(),
        pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=str)}),
        pd.DataFrame({"nan": [np.nan] * 5, "none": [None] * 5, "nat": [pd.NaT] * 5}),
        pd.DataFrame({"inf": [np.inf, -np.inf, np.inf, 1.0, np.nan]}),
        pd.DataFrame({"big": [1e308, -1e308, 1e308, 0.0, 5.0]}),
        pd.DataFrame(
            {
                "mixed": pd.Series([1, "a", None, 2.5, b"x"], dtype=object),
                "lists": pd.Series([[1], [1], {"a": 1}, None, (2,)], dtype=object),
                "nullable": pd.array([1, None, 3, 4, 5], dtype="Int64"),
                "cat": pd.Categorical(["a", None, "b", "a", "a"]),
                "delta": pd.to_timedelta([1, 2, None, 4, 5], unit="s"),
            }
        ),
        pd.DataFrame({0: [1, 2], "é ✓ 名前": ["x", "y"]}),
    ]
    for df in frames:
        profile = profile_table(df)
        _assert_json_safe(profile)
        assert profile["n_rows"] == len(df)
        for name in [str(c) for c in df.columns]:
            _assert_json_safe(analyze_target(df, target=name, task_type="regression"))
            _assert_json_safe(
                analyze_target(df, target=name, task_type="classification")
            )
        _assert_json_safe(analyze_groups(df, columns=[str(c) for c in df.columns]))


def test_it_returns_plain_python_types():
    def walk(value):
        if isinstance(value, dict):
            assert all(type(k) is str for k in value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert value is None or type(value) in (str, int, float, bool)

    df = _messy_frame()
    walk(profile_table(df))
    walk(analyze_target(df, target="cat", task_type="classification"))
    walk(analyze_groups(df, columns=["cat", "flag"]))


_cells = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=12),
    st.booleans(),
    st.sampled_from(["?", "N/A", "1,234", "$5", "12%", "2024-01-31", "yes", "no"]),
)


@st.composite
def _frames(draw):
    n_rows = draw(st.integers(min_value=0, max_value=25))
    names = draw(
        st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=5, unique=True)
    )
    data = {}
    for name in names:
        flavour = draw(st.sampled_from(["object", "float", "int", "str"]))
        if flavour == "float":
            values = draw(st.lists(st.floats(), min_size=n_rows, max_size=n_rows))
            data[name] = pd.Series(values, dtype="float64")
        elif flavour == "int":
            values = draw(
                st.lists(
                    st.integers(-5, 5) | st.sampled_from([-999, 9999]),
                    min_size=n_rows,
                    max_size=n_rows,
                )
            )
            data[name] = pd.Series(values, dtype="int64")
        elif flavour == "str":
            values = draw(
                st.lists(
                    st.none() | st.text(max_size=8), min_size=n_rows, max_size=n_rows
                )
            )
            data[name] = pd.Series(values, dtype="str")
        else:
            values = draw(st.lists(_cells, min_size=n_rows, max_size=n_rows))
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(df=_frames())
def test_it_never_raises_and_stays_json_safe_on_random_frames(df):
    profile = profile_table(df, sample_rows=10, random_state=1)
    _assert_json_safe(profile)
    assert len(profile["columns"]) == df.shape[1]
    for column in profile["columns"]:
        assert column["kind"] in {
            "numeric",
            "categorical",
            "boolean",
            "datetime",
            "text",
            "identifier",
        }
        assert 0 <= column["missing"] <= profile["n_rows"]
    target = str(df.columns[0])
    for task in ("classification", "regression", "clustering"):
        _assert_json_safe(analyze_target(df, target=target, task_type=task))
    _assert_json_safe(analyze_groups(df, columns=[target]))


# ----------------------------------------------------------------- target


def _target_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = _rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "y": 3 * x + rng.normal(size=n),
            "label": np.where(x > 0, "pos", "neg"),
            "comment": [
                f"a free text comment about row {i} and more" for i in range(n)
            ],
            "row_id": np.arange(n),
        }
    )


def test_it_refuses_regression_on_a_text_target():
    result = analyze_target(_target_frame(), target="label", task_type="regression")
    assert result["ok"] is False
    assert [p["code"] for p in result["problems"]] == ["regression_on_text"]
    assert "'label'" in result["problems"][0]["message"]


def test_it_refuses_classification_with_one_class():
    df = _target_frame().assign(label="same")
    result = analyze_target(df, target="label", task_type="classification")
    assert [p["code"] for p in result["problems"]] == ["single_class"]
    assert result["ok"] is False


def test_it_refuses_classification_with_one_class_per_row_and_suggests_regression():
    result = analyze_target(_target_frame(), target="y", task_type="classification")
    assert [p["code"] for p in result["problems"]] == ["one_class_per_row"]
    assert "regression" in result["problems"][0]["message"]
    assert "many_classes" in [w["code"] for w in result["warnings"]]


def test_it_reports_a_missing_target_column():
    result = analyze_target(_target_frame(), target="nope", task_type="regression")
    assert result["ok"] is False
    assert [p["code"] for p in result["problems"]] == ["target_missing_column"]
    assert result["kind"] is None


def test_it_reports_an_all_missing_target():
    df = _target_frame().assign(y=np.nan)
    result = analyze_target(df, target="y", task_type="regression")
    assert [p["code"] for p in result["problems"]] == ["all_missing"]


def test_it_rejects_an_unknown_task_type():
    with pytest.raises(ValueError, match="task type"):
        analyze_target(_target_frame(), target="y", task_type="ranking")


def test_it_accepts_a_good_regression_target_and_describes_it():
    result = analyze_target(_target_frame(), target="y", task_type="regression")
    assert result["ok"] is True
    assert result["problems"] == [] and result["warnings"] == []
    assert result["kind"] == "numeric"
    assert set(result["distribution"]) == {"histogram", "stats"}
    assert sum(result["distribution"]["histogram"]["counts"]) == 400


def test_it_ranks_associations_and_leaves_out_identifiers_and_text():
    result = analyze_target(_target_frame(), target="y", task_type="regression")
    columns = [a["column"] for a in result["associations"]]
    assert columns[0] == "x"
    assert "comment" not in columns and "row_id" not in columns and "y" not in columns
    scores = [a["score"] for a in result["associations"]]
    assert scores == sorted(scores, reverse=True)
    methods = {a["column"]: a["method"] for a in result["associations"]}
    assert methods == {
        "x": "abs_pearson",
        "noise": "abs_pearson",
        "colour": "correlation_ratio",
        "label": "correlation_ratio",
    }
    assert result["leakage"] == []


def test_it_uses_cramers_v_and_eta_for_a_categorical_target():
    result = analyze_target(_target_frame(), target="label", task_type="classification")
    methods = {a["column"]: a["method"] for a in result["associations"]}
    assert methods["colour"] == "cramers_v"
    assert methods["x"] == "correlation_ratio"
    assert result["distribution"]["classes"][0]["value"] in {"pos", "neg"}
    assert sum(c["count"] for c in result["distribution"]["classes"]) == 400


def test_it_detects_leakage_from_a_copy_of_the_target():
    df = _target_frame()
    df["label_copy"] = df["label"]
    df["y_copy"] = df["y"] * 10 + 1
    df.loc[::9, "y_copy"] = np.nan
    classification = analyze_target(df, target="label", task_type="classification")
    assert "label_copy" in classification["leakage"]
    leak = next(
        a for a in classification["associations"] if a["column"] == "label_copy"
    )
    assert leak["leakage"] is True and leak["score"] == pytest.approx(1.0)
    regression = analyze_target(df, target="y", task_type="regression")
    assert regression["leakage"] == ["y_copy"]


def test_it_detects_leakage_with_a_sample():
    df = _target_frame(n=3_000).assign(copy=lambda d: d["label"])
    result = analyze_target(
        df, target="label", task_type="classification", sample_rows=500
    )
    assert result["leakage"] == ["copy"]


def test_it_warns_about_an_imbalanced_target():
    labels = np.array(["common"] * 380 + ["rare"] * 20)
    df = _target_frame().assign(label=labels)
    result = analyze_target(df, target="label", task_type="classification")
    assert result["ok"] is True
    assert [w["code"] for w in result["warnings"]] == ["imbalanced"]
    assert "'rare'" in result["warnings"][0]["message"]


def test_it_warns_about_a_target_with_missing_values():
    df = _target_frame()
    df.loc[:9, "y"] = np.nan
    result = analyze_target(df, target="y", task_type="regression")
    assert [w["code"] for w in result["warnings"]] == ["target_has_missing"]
    assert "10 rows" in result["warnings"][0]["message"]


def test_it_warns_about_many_classes():
    df = _target_frame().assign(label=[f"k{i % 80}" for i in range(400)])
    result = analyze_target(df, target="label", task_type="classification")
    assert "many_classes" in [w["code"] for w in result["warnings"]]
    assert len(result["distribution"]["classes"]) == 50


def test_it_warns_that_clustering_ignores_the_target():
    result = analyze_target(_target_frame(), target="label", task_type="clustering")
    assert result["ok"] is True
    assert [w["code"] for w in result["warnings"]] == ["clustering_ignores_target"]
    assert result["associations"] == []


# ---------------------------------------------------- association measures


def test_it_computes_cramers_v_like_scipy_without_correction():
    table = np.array([[10, 5], [3, 12]])
    x = ["a"] * 15 + ["b"] * 15
    y = ["u"] * 10 + ["v"] * 5 + ["u"] * 3 + ["v"] * 12
    expected = association(table, method="cramer")
    assert cramers_v(x, y, bias_correction=False) == pytest.approx(expected)
    phi = (10 * 12 - 5 * 3) / np.sqrt(15 * 15 * 13 * 17)
    assert cramers_v(x, y, bias_correction=False) == pytest.approx(abs(phi))


def test_it_gives_cramers_v_of_one_for_a_perfect_association_and_zero_for_none():
    x = ["a", "b", "c"] * 20
    assert cramers_v(x, [v.upper() for v in x]) == pytest.approx(1.0)
    assert cramers_v(["a", "a", "b", "b"] * 10, ["u", "v"] * 20) == pytest.approx(0.0)
    assert cramers_v(["a"] * 10, ["u", "v"] * 5) == 0.0


def test_it_shrinks_spurious_cramers_v_with_the_bias_correction():
    rng = _rng()
    x, y = rng.integers(0, 20, 60), rng.integers(0, 20, 60)
    assert cramers_v(x, y) < cramers_v(x, y, bias_correction=False)


def test_it_computes_the_correlation_ratio_of_the_textbook_example():
    # Wikipedia, "Correlation ratio": eta^2 = 6780 / 9640.
    scores = {
        "algebra": [45, 70, 29, 15, 21],
        "geometry": [40, 20, 30, 42],
        "statistics": [65, 95, 80, 70, 85, 73],
    }
    categories = [k for k, v in scores.items() for _ in v]
    values = [x for v in scores.values() for x in v]
    assert correlation_ratio(categories, values) == pytest.approx(np.sqrt(6780 / 9640))


def test_it_drops_missing_pairs_in_association_measures():
    assert correlation_ratio(["a", "b", None, "a"], [1.0, 2.0, 50.0, np.nan]) == 1.0
    assert cramers_v(["a", "b", None], ["u", "v", "v"], bias_correction=False) == 1.0


# ----------------------------------------------------------------- groups


def test_it_flags_under_represented_groups():
    df = pd.DataFrame({"sex": ["f"] * 300 + ["m"] * 280 + ["x"] * 20})
    (result,) = analyze_groups(df, columns=["sex"])
    assert result["column"] == "sex"
    groups = {g["value"]: g for g in result["groups"]}
    assert groups["f"]["count"] == 300 and groups["f"]["share"] == 0.5
    assert not groups["f"]["under_represented"]
    assert not groups["m"]["under_represented"]
    assert groups["x"]["under_represented"]
    assert [w["code"] for w in result["warnings"]] == ["under_represented"]


def test_it_flags_a_group_below_half_an_equal_share():
    df = pd.DataFrame({"g": ["a"] * 1_000 + ["b"] * 1_000 + ["c"] * 100})
    groups = {g["value"]: g for g in analyze_groups(df, columns=["g"])[0]["groups"]}
    # 100 / 2100 < 1 / 6, although it has more than 30 rows.
    assert groups["c"]["under_represented"] is True
    assert groups["a"]["under_represented"] is False


def test_it_keeps_missing_values_as_their_own_group():
    df = pd.DataFrame({"g": ["a"] * 50 + [None] * 40})
    groups = analyze_groups(df, columns=["g"])[0]["groups"]
    assert [(g["value"], g["count"]) for g in groups] == [("a", 50), ("(missing)", 40)]


def test_it_shows_only_the_fifty_largest_groups_with_a_warning():
    df = pd.DataFrame({"g": [f"v{i}" for i in range(70)] * 2})
    (result,) = analyze_groups(df, columns=["g"])
    assert len(result["groups"]) == 50
    assert "too_many_groups" in [w["code"] for w in result["warnings"]]
    assert "70" in result["warnings"][0]["message"]


def test_it_raises_a_clear_error_for_an_unknown_group_column():
    with pytest.raises(ValueError, match="'nope'"):
        analyze_groups(pd.DataFrame({"g": [1]}), columns=["g", "nope"])


# ------------------------------------------------------------------ purity


def test_it_does_not_import_django():
    code = (
        "import sys, projects.ml.profiling, projects.charts.profile; "
        "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
