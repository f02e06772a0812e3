from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from projects.ml.errors import SpecError
from projects.ml.features import (
    DatetimeFeatures,
    FeatureSpec,
    compile_features,
    preview_features,
    suggest_features,
    validate_features,
)
from projects.ml.profiling import profile_table

N = 200


def _frame(seed: int = 0, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n).round()
    age[::9] = np.nan
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "age": age,
            "income": rng.lognormal(10, 1, n),
            "city": pd.Series(
                rng.choice(["paris", "lyon", "nice", None], n, p=[0.5, 0.3, 0.1, 0.1]),
                dtype="str",
            ),
            "signup": pd.Timestamp("2021-01-01")
            + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
            "review": pd.Series(
                rng.choice(
                    [
                        "great product fast delivery and lovely box",
                        "terrible support never again would not buy",
                        "average quality for the price honestly meh",
                        None,
                    ],
                    n,
                ),
                dtype="str",
            ),
            "active": pd.Series(rng.choice(["yes", "no", None], n), dtype="str"),
            "constant": 1.0,
            "churn": pd.Series(rng.choice(["stay", "leave"], n), dtype="str"),
        }
    )


KINDS = {
    "customer_id": "identifier",
    "age": "numeric",
    "income": "numeric",
    "city": "categorical",
    "signup": "datetime",
    "review": "text",
    "active": "boolean",
    "constant": "numeric",
    "churn": "categorical",
}


def _column(name: str, kind: str, **extra) -> dict:
    base = {"name": name, "kind": kind, "missing": 0, "missing_share": 0.0}
    base.update({"distinct": 10, "stats": None, "top": [], "warnings": []})
    base.update(extra)
    return base


def _suggest(*columns: dict, target=None, task_type="classification") -> dict:
    return suggest_features(
        {"columns": list(columns)}, target=target, task_type=task_type
    )


def _fit(spec: dict, frame: pd.DataFrame, y=None, task_type="classification"):
    ct = compile_features(spec, task_type=task_type, sparse_threshold=0.0)
    ct.fit(frame, y)
    return ct


def _error(call) -> SpecError:
    with pytest.raises(SpecError) as info:
        call()
    return info.value


# ----------------------------------------------------------------- suggestion


def test_it_drops_identifier_columns_in_the_suggestion():
    spec = _suggest(_column("customer_id", "identifier", distinct=200))

    assert spec["columns"]["customer_id"] == {"kind": "drop"}
    assert "identifier" in spec["reasons"]["customer_id"]


def test_it_drops_constant_and_empty_columns_in_the_suggestion():
    constant = _column(
        "c", "numeric", distinct=1, warnings=[{"code": "constant", "message": ""}]
    )
    spec = _suggest(constant, _column("e", "categorical", distinct=0))

    assert spec["columns"] == {"c": {"kind": "drop"}, "e": {"kind": "drop"}}
    assert set(spec["reasons"]) == {"c", "e"}


def test_it_never_suggests_the_target_as_a_feature():
    spec = _suggest(_column("x", "numeric"), _column("y", "numeric"), target="y")

    assert list(spec["columns"]) == ["x"]


def test_it_suggests_median_imputation_and_standard_scaling_for_numbers():
    column = _suggest(_column("x", "numeric", stats={"skew": 0.1, "min": -3.0}))

    x = column["columns"]["x"]
    assert (x["impute"], x["scaler"], x["transform"]) == ("median", "standard", "none")
    assert x["add_indicator"] is False


def test_it_suggests_a_log_for_positive_skew_and_yeo_johnson_otherwise():
    spec = _suggest(
        _column("pos", "numeric", stats={"skew": 4.0, "min": 0.0}),
        _column("neg", "numeric", stats={"skew": 4.0, "min": -5.0}),
        _column("left", "numeric", stats={"skew": -3.0, "min": 1.0}),
    )

    transforms = {n: c["transform"] for n, c in spec["columns"].items()}
    assert transforms == {"pos": "log", "neg": "yeo-johnson", "left": "yeo-johnson"}
    assert "skew" in spec["reasons"]["pos"]


def test_it_suggests_a_missing_indicator_and_robust_scaling_when_the_profile_warns():
    outliers = [{"code": "outliers", "message": ""}]
    spec = _suggest(_column("x", "numeric", missing_share=0.2, warnings=outliers))

    assert spec["columns"]["x"]["add_indicator"] is True
    assert spec["columns"]["x"]["scaler"] == "robust"


def test_it_suggests_onehot_for_few_categories_and_target_encoding_for_many():
    spec = _suggest(
        _column("few", "categorical", distinct=5),
        _column("many", "categorical", distinct=51),
        task_type="regression",
    )

    assert spec["columns"]["few"]["encoding"] == "onehot"
    assert spec["columns"]["few"]["min_frequency"] == 0.01
    assert spec["columns"]["many"]["encoding"] == "target"


def test_it_suggests_ordinal_codes_for_many_categories_when_clustering():
    spec = _suggest(
        _column("many", "categorical", distinct=500), task_type="clustering"
    )

    assert spec["columns"]["many"]["encoding"] == "ordinal"


def test_it_suggests_date_parts_tfidf_and_boolean():
    dates = {"min": "2020-01-01T00:00:00", "max": "2021-01-01T00:00:00"}
    times = {"min": "2020-01-01T08:30:00", "max": "2021-01-01T17:00:00"}
    spec = _suggest(
        _column("day", "datetime", stats=dates),
        _column("at", "datetime", stats=times),
        _column("note", "text"),
        _column("flag", "boolean", distinct=2),
    )

    assert "hour" not in spec["columns"]["day"]["parts"]
    assert "days_since" in spec["columns"]["day"]["parts"]
    assert "hour" in spec["columns"]["at"]["parts"]
    assert spec["columns"]["note"] == {"kind": "text", "max_features": 200}
    assert spec["columns"]["flag"] == {"kind": "boolean"}


def test_it_suggests_a_spec_that_validates_and_previews_on_a_real_profile():
    frame = _frame()
    profile = profile_table(frame)
    kinds = {c["name"]: c["kind"] for c in profile["columns"]}

    spec = suggest_features(profile, target="churn", task_type="classification")
    fs = validate_features(
        spec, columns=kinds, target="churn", task_type="classification"
    )
    preview = preview_features(
        fs, frame, frame["churn"], task_type="classification", sample_rows=3
    )

    assert spec["columns"]["customer_id"]["kind"] == "drop"
    assert spec["columns"]["constant"]["kind"] == "drop"
    assert "churn" not in spec["columns"]
    assert set(preview["by_column"]) == {
        "age",
        "income",
        "city",
        "signup",
        "review",
        "active",
    }
    assert preview["shape"] == [N, preview["n_features_out"]]
    assert len(preview["sample"]) == 3
    assert fs.reasons == spec["reasons"]


# ------------------------------------------------------------ compile + fit


@pytest.mark.parametrize("impute", ["median", "mean", "most_frequent", "constant"])
@pytest.mark.parametrize("transform", ["none", "log", "yeo-johnson"])
@pytest.mark.parametrize("scaler", ["standard", "minmax", "robust", "none"])
def test_it_compiles_and_transforms_every_numeric_option(impute, transform, scaler):
    frame = _frame()
    spec = {
        "columns": {
            "age": {
                "kind": "numeric",
                "impute": impute,
                "transform": transform,
                "scaler": scaler,
                "add_indicator": True,
            }
        }
    }

    out = _fit(spec, frame).transform(frame)

    assert out.shape == (N, 2)
    assert np.isfinite(out).all()
    assert out[:, 1].tolist() == frame["age"].isna().astype(float).tolist()


def test_it_bins_numbers_into_one_hot_quantiles_instead_of_scaling():
    frame = _frame()
    spec = {"columns": {"income": {"kind": "numeric", "bins": 4}}}

    ct = _fit(spec, frame)
    out = ct.transform(frame)

    assert list(ct.get_feature_names_out()) == [f"income_{i}.0" for i in range(4)]
    assert (out.sum(axis=1) == 1).all()
    assert out.sum(axis=0).tolist() == [50.0] * 4


def test_it_imputes_with_the_constant_fill_value():
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0]})
    spec = {
        "columns": {
            "x": {
                "kind": "numeric",
                "impute": "constant",
                "fill_value": -7,
                "scaler": "none",
            }
        }
    }

    assert _fit(spec, frame).transform(frame)[:, 0].tolist() == [1.0, -7.0, 3.0]


def test_it_uses_a_signed_log_that_accepts_negative_values():
    frame = pd.DataFrame({"x": [0.0, np.e - 1, -(np.e - 1)]})
    spec = {"columns": {"x": {"kind": "numeric", "transform": "log", "scaler": "none"}}}

    out = _fit(spec, frame).transform(frame)[:, 0]

    np.testing.assert_allclose(out, [0.0, 1.0, -1.0])


def test_it_fits_the_scaler_on_the_training_rows_only():
    frame = _frame()
    train, test = frame.iloc[:150], frame.iloc[150:]
    spec = {"columns": {"income": {"kind": "numeric"}}}

    ct = _fit(spec, train)

    scaler = ct.named_transformers_["income"].named_steps["scale"]
    assert scaler.mean_[0] == pytest.approx(train["income"].mean())
    assert scaler.mean_[0] != pytest.approx(frame["income"].mean())
    expected = (test["income"] - train["income"].mean()) / train["income"].std(ddof=0)
    np.testing.assert_allclose(ct.transform(test)[:, 0], expected)


def test_it_gives_a_category_seen_only_in_test_no_new_column():
    train = pd.DataFrame({"city": pd.Series(["a", "b"] * 20, dtype="str")})
    test = pd.DataFrame({"city": pd.Series(["a", "zzz"], dtype="str")})
    onehot = {"columns": {"city": {"kind": "categorical", "min_frequency": None}}}
    ordinal = {"columns": {"city": {"kind": "categorical", "encoding": "ordinal"}}}

    ct = _fit(onehot, train)
    out = ct.transform(test)

    assert list(ct.get_feature_names_out()) == ["city_a", "city_b"]
    assert out.tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert _fit(ordinal, train).transform(test)[:, 0].tolist() == [0.0, -1.0]


def test_it_groups_rare_categories_and_sends_unseen_ones_to_the_same_column():
    train = pd.DataFrame(
        {"city": pd.Series(["a"] * 30 + ["b"] * 30 + ["rare"], dtype="str")}
    )
    test = pd.DataFrame({"city": pd.Series(["rare", "zzz", "b"], dtype="str")})
    spec = {"columns": {"city": {"kind": "categorical", "min_frequency": 5}}}

    ct = _fit(spec, train)

    assert list(ct.get_feature_names_out()) == [
        "city_a",
        "city_b",
        "city_infrequent_sklearn",
    ]
    assert ct.transform(test).tolist() == [[0, 0, 1], [0, 0, 1], [0, 1, 0]]


def test_it_encodes_missing_categories_as_their_own_level():
    frame = pd.DataFrame({"city": pd.Series(["a", None] * 10, dtype="str")})
    spec = {"columns": {"city": {"kind": "categorical"}}}

    ct = _fit(spec, frame)

    assert list(ct.get_feature_names_out()) == ["city_(missing)", "city_a"]


def test_it_treats_integer_codes_the_same_when_a_batch_has_missing_values():
    train = pd.DataFrame({"grade": [1, 2, 3] * 10})
    batch = pd.DataFrame({"grade": [1.0, np.nan]})
    spec = {"columns": {"grade": {"kind": "categorical", "min_frequency": None}}}

    out = _fit(spec, train).transform(batch)

    assert out.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_it_cross_fits_target_encoding():
    frame = _frame()
    y = frame["churn"]
    spec = {"columns": {"city": {"kind": "categorical", "encoding": "target"}}}
    ct = compile_features(spec, task_type="classification")

    crossed = ct.fit_transform(frame, y)
    refit = ct.transform(frame)

    assert crossed.shape == refit.shape == (N, 1)
    assert not np.allclose(crossed, refit)
    # The same rows give the same folds: the preview shows what training sees.
    again = compile_features(spec, task_type="classification").fit_transform(frame, y)
    np.testing.assert_array_equal(crossed, again)


def test_it_gives_one_target_encoded_column_per_class_for_multiclass():
    frame = _frame()
    y = pd.Series(np.random.default_rng(1).choice(["a", "b", "c"], N))
    spec = {"columns": {"city": {"kind": "categorical", "encoding": "target"}}}

    preview = preview_features(spec, frame, y, task_type="classification")

    assert preview["feature_names"] == ["city_a", "city_b", "city_c"]


def test_it_encodes_integer_regression_targets_as_continuous():
    frame = _frame()
    y = pd.Series(np.random.default_rng(1).integers(0, 5, N))
    spec = {"columns": {"city": {"kind": "categorical", "encoding": "target"}}}

    preview = preview_features(spec, frame, y, task_type="regression")

    assert preview["feature_names"] == ["city"]


def test_it_computes_datetime_parts_for_known_dates():
    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(
                ["2024-03-09 14:30", "2024-03-11 08:00", None, "2023-12-31 23:59"]
            )
        }
    )
    parts = ["year", "month", "day", "dayofweek", "hour", "is_weekend", "days_since"]
    spec = {"columns": {"at": {"kind": "datetime", "parts": parts}}}

    ct = _fit(spec, frame)
    out = ct.transform(frame)

    assert list(ct.get_feature_names_out()) == [f"at_{p}" for p in parts]
    assert out[0, :6].tolist() == [2024, 3, 9, 5, 14, 1]  # a Saturday
    assert out[1, :6].tolist() == [2024, 3, 11, 0, 8, 0]  # a Monday
    assert out[3, :6].tolist() == [2023, 12, 31, 6, 23, 1]
    assert out[3, 6] == 0.0  # the earliest training date is the reference
    assert out[1, 6] == pytest.approx(70 + (8 * 60 + 1) / 1440)
    assert np.isfinite(out[2]).all()  # the missing date got the training medians


def test_it_counts_days_since_a_given_reference_and_keeps_the_learned_one():
    train = pd.DataFrame({"d": pd.to_datetime(["2020-01-10", "2020-01-20"])})
    later = pd.DataFrame({"d": pd.to_datetime(["2019-12-31"])})
    given = {
        "columns": {
            "d": {
                "kind": "datetime",
                "parts": ["days_since"],
                "reference": "2020-01-01",
            }
        }
    }
    learned = {"columns": {"d": {"kind": "datetime", "parts": ["days_since"]}}}

    assert _fit(given, train).transform(train)[:, 0].tolist() == [9.0, 19.0]
    ct = _fit(learned, train)
    assert ct.transform(later)[:, 0].tolist() == [-10.0]
    parts = ct.named_transformers_["d"].named_steps["parts"]
    assert parts.reference_ == [pd.Timestamp("2020-01-10")]


def test_it_reads_dates_stored_as_text_and_with_time_zones():
    text = pd.DataFrame({"d": pd.Series(["2024-03-09", "2024-03-11"], dtype="str")})
    stamps = pd.to_datetime(["2024-03-09 23:00", "2024-03-11 00:00"])
    aware = pd.DataFrame({"d": stamps.tz_localize("UTC")})
    spec = {"columns": {"d": {"kind": "datetime", "parts": ["day", "hour"]}}}

    assert _fit(spec, text).transform(text).tolist() == [[9, 0], [11, 0]]
    assert _fit(spec, aware).transform(aware).tolist() == [[9, 23], [11, 0]]


def test_it_builds_bounded_tfidf_and_reads_missing_text_as_empty():
    frame = _frame()
    spec = {"columns": {"review": {"kind": "text", "max_features": 5}}}

    ct = compile_features(spec, task_type="clustering")
    out = ct.fit_transform(frame)

    names = list(ct.get_feature_names_out())
    assert len(names) == 5
    assert all(name.startswith("review_") for name in names)
    missing = frame["review"].isna().to_numpy()
    dense = out.toarray() if sparse.issparse(out) else out
    assert (dense[missing] == 0).all()
    assert (dense[~missing].sum(axis=1) > 0).any()


def test_it_casts_boolean_values_to_zero_and_one():
    frame = pd.DataFrame(
        {
            "text": pd.Series(["Yes", " no", None, "yes", "maybe"], dtype="str"),
            "flag": pd.Series([True, False, None, True, True], dtype="boolean"),
            "num": [1.0, 0.0, np.nan, 1.0, 1.0],
        }
    )
    spec = {"columns": {c: {"kind": "boolean"} for c in frame.columns}}

    out = _fit(spec, frame).transform(frame)

    expected = [1.0, 0.0, 1.0, 1.0, 1.0]  # missing and unknown: most frequent (1)
    assert out.T.tolist() == [expected, expected, expected]


def test_it_multiplies_interaction_columns_after_imputation():
    frame = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": [2.0, 3.0, 4.0, 5.0]})
    spec = {
        "columns": {
            "a": {"kind": "numeric", "impute": "constant", "fill_value": 10},
            "b": {"kind": "numeric"},
        },
        "interactions": [["a", "b"]],
    }

    ct = _fit(spec, frame)
    product = ct.transform(frame)[:, 2]

    raw = np.array([2.0, 6.0, 40.0, 20.0])
    np.testing.assert_allclose(product, (raw - raw.mean()) / raw.std())
    assert list(ct.get_feature_names_out()) == ["a", "b", "a*b"]


def test_it_round_trips_a_fitted_transformer_through_joblib(tmp_path):
    frame = _frame()
    spec = {
        "columns": {
            "age": {"kind": "numeric", "add_indicator": True, "transform": "log"},
            "income": {"kind": "numeric", "bins": 3},
            "city": {"kind": "categorical", "encoding": "target"},
            "signup": {"kind": "datetime"},
            "review": {"kind": "text"},
            "active": {"kind": "boolean"},
        },
        "interactions": [["age", "income"]],
    }
    ct = _fit(spec, frame, frame["churn"])
    path = tmp_path / "features.joblib"

    joblib.dump(ct, path)
    loaded = joblib.load(path)

    np.testing.assert_array_equal(loaded.transform(frame), ct.transform(frame))
    assert list(loaded.get_feature_names_out()) == list(ct.get_feature_names_out())


def test_it_names_transformers_safely_for_awkward_column_names():
    frame = pd.DataFrame({"n_jobs": [1.0, 2.0], "a__b": [3.0, 4.0], "ok": [5.0, 6.0]})
    # Different scalers, so that each column keeps a transformer of its own.
    scalers = {"n_jobs": "standard", "a__b": "minmax", "ok": "robust"}
    spec = {
        "columns": {c: {"kind": "numeric", "scaler": s} for c, s in scalers.items()}
    }

    ct = _fit(spec, frame)

    assert [name for name, _, _ in ct.transformers] == ["column_0", "column_1", "ok"]
    assert list(ct.get_feature_names_out()) == ["n_jobs", "a__b", "ok"]


def test_numeric_columns_with_the_same_settings_share_one_transformer():
    frame = _frame()
    frame["score"] = frame["income"] / 1000
    frame.loc[::7, "score"] = np.nan
    same = {"kind": "numeric", "impute": "mean", "add_indicator": True}
    spec = {
        "columns": {
            "age": same,
            "city": {"kind": "categorical"},
            "income": {"kind": "numeric", "transform": "log"},
            "score": same,
        }
    }
    alone = {c: {"columns": {c: spec["columns"][c]}} for c in spec["columns"]}

    ct = _fit(spec, frame)

    assert [name for name, _, _ in ct.transformers] == ["numeric", "city", "income"]
    names = list(ct.get_feature_names_out())
    assert names[:4] == [
        "age",
        "score",
        "missingindicator_age",
        "missingindicator_score",
    ]
    out = ct.transform(frame)
    # Each column comes out exactly as it does from a transformer of its own.
    for column in ("age", "score"):
        own = _fit(alone[column], frame)
        np.testing.assert_array_equal(
            out[:, [names.index(column), names.index(f"missingindicator_{column}")]],
            own.transform(frame),
        )
    preview = preview_features(spec, frame, task_type="clustering")
    assert preview["by_column"] == {"age": 2, "score": 2, "city": 4, "income": 1}


def test_it_names_both_columns_when_a_shared_transformer_output_clashes():
    # "c_x" is a numeric column (shared with "y") and a one-hot level of "c".
    frame = pd.DataFrame(
        {
            "c_x": [1.0, 2.0, 3.0, 4.0],
            "y": [1.0, 2.0, 3.0, 5.0],
            "c": pd.Series(["x", "x", "z", "z"], dtype="str"),
        }
    )
    spec = {
        "columns": {
            "c_x": {"kind": "numeric"},
            "y": {"kind": "numeric"},
            "c": {"kind": "categorical", "min_frequency": None},
        }
    }

    err = _error(lambda: preview_features(spec, frame, task_type="clustering"))

    assert err.field == "columns"
    assert "'c' and 'c_x'" in str(err)


def test_it_reads_only_the_spec_columns():
    frame = _frame()
    spec = {"columns": {"age": {"kind": "numeric"}, "city": {"kind": "drop"}}}

    assert _fit(spec, frame).transform(frame).shape == (N, 1)


def test_it_is_a_sklearn_style_datetime_transformer():
    frame = pd.DataFrame({"d": pd.to_datetime(["2020-01-01", "2020-02-01"])})

    est = DatetimeFeatures(parts=("month",)).fit(frame)

    assert est.get_params() == {"parts": ("month",), "reference": None}
    assert est.transform(frame).tolist() == [[1.0], [2.0]]
    assert list(est.get_feature_names_out()) == ["d_month"]


# -------------------------------------------------------------- bad specs


def _validate(spec: dict, task_type: str = "classification") -> FeatureSpec:
    return validate_features(spec, columns=KINDS, target="churn", task_type=task_type)


@pytest.mark.parametrize(
    ("columns", "field", "words"),
    [
        ({"nope": {"kind": "numeric"}}, "columns.nope", ["nope"]),
        ({"churn": {"kind": "categorical"}}, "columns.churn", ["target"]),
        ({"review": {"kind": "numeric"}}, "columns.review.kind", ["review", "text"]),
        ({"city": {"kind": "numeric"}}, "columns.city.kind", ["city", "numeric"]),
        ({"age": {"kind": "datetime"}}, "columns.age.kind", ["age"]),
        ({"city": {"kind": "boolean"}}, "columns.city.kind", ["city"]),
        ({"age": {"kind": "wide"}}, "columns.age.kind", ["age", "wide"]),
        ({"age": {"impute": "mean"}}, "columns.age.kind", ["age"]),
        ({"age": "numeric"}, "columns.age", ["kind"]),
        (
            {"city": {"kind": "categorical", "scaler": "standard"}},
            "columns.city.scaler",
            ["columns.city.scaler"],
        ),
        ({"age": {"kind": "numeric", "bins": 1}}, "columns.age.bins", ["bins"]),
        (
            {"age": {"kind": "numeric", "scaler": "zscore"}},
            "columns.age.scaler",
            ["scaler"],
        ),
        (
            {"age": {"kind": "numeric", "bins": 5, "scaler": "robust"}},
            "columns.age.scaler",
            ["age", "bins", "scaler"],
        ),
        (
            {"review": {"kind": "text", "max_features": 6000}},
            "columns.review.max_features",
            ["max_features"],
        ),
        (
            {"city": {"kind": "categorical", "min_frequency": 1.5}},
            "columns.city.min_frequency",
            ["min_frequency"],
        ),
        (
            {"city": {"kind": "categorical", "min_frequency": -1}},
            "columns.city.min_frequency",
            ["min_frequency"],
        ),
        (
            {"signup": {"kind": "datetime", "parts": ["year", "year"]}},
            "columns.signup.parts",
            ["twice"],
        ),
        (
            {"signup": {"kind": "datetime", "parts": ["week"]}},
            "columns.signup.parts.0",
            ["parts"],
        ),
        ({"age": {"kind": "drop"}}, "columns", ["at least one"]),
    ],
)
def test_it_refuses_a_bad_column(columns, field, words):
    err = _error(lambda: _validate({"columns": columns}))

    assert err.field == field
    for word in words:
        assert word in err.message


def test_it_refuses_target_encoding_for_clustering():
    spec = {"columns": {"city": {"kind": "categorical", "encoding": "target"}}}

    for call in (
        lambda: _validate(spec, task_type="clustering"),
        lambda: compile_features(spec, task_type="clustering"),
        lambda: preview_features(spec, _frame(), task_type="clustering"),
    ):
        err = _error(call)
        assert err.field == "columns.city.encoding"
        assert "clustering" in err.message


@pytest.mark.parametrize(
    ("interactions", "field"),
    [
        ([["age", "city"]], "interactions.0.1"),
        ([["nope", "age"]], "interactions.0.0"),
        ([["age", "constant"]], "interactions.0.1"),  # a column, but not in the spec
        ([["age", "age"]], "interactions.0"),
        ([["age", "income"], ["income", "age"]], "interactions.1"),
        ([["age"]], "interactions.0.1"),
    ],
)
def test_it_refuses_a_bad_interaction(interactions, field):
    spec = {
        "columns": {
            "age": {"kind": "numeric"},
            "income": {"kind": "numeric"},
            "city": {"kind": "categorical"},
        },
        "interactions": interactions,
    }

    assert _error(lambda: _validate(spec)).field == field


def test_it_refuses_unknown_top_level_keys_and_task_types():
    spec = {"columns": {"age": {"kind": "numeric"}}}

    assert _error(lambda: _validate({**spec, "extra": 1})).field == "extra"
    assert _error(lambda: _validate({"columns": []})).field == "columns"
    assert _error(lambda: _validate([])).field == "body"
    assert _error(lambda: _validate(spec, task_type="ranking")).field == "task_type"


def test_it_names_a_column_called_like_a_kind_in_the_field():
    spec = {"columns": {"text": {"kind": "text", "max_features": 0}}}

    err = _error(lambda: compile_features(spec, task_type="classification"))

    assert err.field == "columns.text.max_features"


def test_it_accepts_a_valid_spec_and_keeps_its_reasons():
    spec = {
        "columns": {"age": {"kind": "numeric"}, "churn": {"kind": "drop"}},
        "reasons": {"age": "Because."},
    }

    fs = _validate(spec)

    assert fs.reasons == {"age": "Because."}
    assert fs.model_dump(mode="json")["columns"]["age"]["scaler"] == "standard"


# ------------------------------------------------------------------ preview


def test_it_previews_the_transformed_training_rows():
    frame = _frame()
    spec = {
        "columns": {
            "age": {"kind": "numeric", "add_indicator": True},
            "city": {"kind": "categorical"},
            "signup": {"kind": "datetime", "parts": ["year", "month"]},
        }
    }

    preview = preview_features(spec, frame, task_type="clustering", sample_rows=2)

    assert preview["by_column"] == {"age": 2, "city": 4, "signup": 2}
    assert preview["n_features_out"] == 8
    assert preview["shape"] == [N, 8]
    assert preview["feature_names"][:2] == ["age", "missingindicator_age"]
    assert len(preview["sample"]) == 2
    assert all(isinstance(v, float) for v in preview["sample"][0])


def test_it_refuses_a_preview_without_a_spec_column_or_the_target():
    frame = _frame().drop(columns=["age"])
    missing = {"columns": {"age": {"kind": "numeric"}}}
    target = {"columns": {"city": {"kind": "categorical", "encoding": "target"}}}

    err = _error(lambda: preview_features(missing, frame, task_type="regression"))
    assert err.field == "columns.age"
    err = _error(lambda: preview_features(target, frame, task_type="regression"))
    assert err.field == "columns.city.encoding"


def test_it_refuses_text_without_any_words():
    frame = pd.DataFrame({"note": pd.Series([None, " "], dtype="str")})
    spec = {"columns": {"note": {"kind": "text"}}}

    err = _error(lambda: preview_features(spec, frame, task_type="clustering"))

    assert err.field == "columns.note.kind"


def test_it_names_the_column_that_blows_the_feature_limit_before_fitting():
    frame = _frame()
    spec = {
        "columns": {
            "age": {"kind": "numeric"},
            "customer_id": {"kind": "categorical", "min_frequency": None},
        }
    }

    err = _error(
        lambda: preview_features(
            spec, frame, task_type="clustering", max_features_out=100
        )
    )

    assert err.field == "columns.customer_id"
    assert "customer_id" in err.message
    assert "201" in err.message


def test_it_checks_the_feature_limit_after_fitting_too():
    frame = _frame()
    spec = {
        "columns": {
            "age": {"kind": "numeric"},
            "review": {"kind": "text", "max_features": 5000},
        }
    }

    err = _error(
        lambda: preview_features(
            spec, frame, task_type="clustering", max_features_out=10
        )
    )

    assert err.field == "columns.review"
    assert "max_features" in err.message


def test_it_lets_the_spec_lower_the_feature_limit():
    frame = _frame()
    spec = {
        "columns": {"age": {"kind": "numeric"}, "city": {"kind": "categorical"}},
        "max_features_out": 3,
    }

    err = _error(lambda: preview_features(spec, frame, task_type="clustering"))

    assert err.field == "columns.city"


def test_it_refuses_features_whose_output_names_collide():
    frame = pd.DataFrame(
        {"city": pd.Series(["a", "b"] * 5, dtype="str"), "city_a": np.arange(10.0)}
    )
    spec = {"columns": {"city": {"kind": "categorical"}, "city_a": {"kind": "numeric"}}}

    err = _error(lambda: preview_features(spec, frame, task_type="clustering"))

    assert err.field == "columns"
    assert err.message == (
        "columns: 'city' and 'city_a' would both produce a feature named 'city_a'; "
        "rename or drop one of them."
    )


def test_it_stores_bins_as_replacing_the_scaler_so_the_spec_validates_again():
    spec = {"columns": {"x": {"kind": "numeric", "bins": 4}}}
    first = validate_features(
        spec, columns={"x": "numeric"}, target=None, task_type="clustering"
    )
    stored = first.model_dump(mode="json")
    assert stored["columns"]["x"]["scaler"] == "none"
    again = validate_features(
        stored, columns={"x": "numeric"}, target=None, task_type="clustering"
    )
    assert again.model_dump(mode="json") == stored
