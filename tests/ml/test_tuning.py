"""Search spaces (validation naming the field), strategies, and a trial's score."""

from __future__ import annotations

import optuna
import pytest

from projects.ml.catalog import CATALOG
from projects.ml.errors import SpecError
from projects.ml.training import train_model
from projects.ml.tuning import (
    DEFAULT_SPACES,
    STRATEGIES,
    TrialPruned,
    default_search_space,
    default_trial_params,
    direction,
    fold_values,
    gain_over,
    grid_points,
    grid_size,
    make_pruner,
    make_sampler,
    score_params,
    suggest_params,
    validate_search_space,
)
from tests.ml.test_catalog import SPEC, _frame

optuna.logging.set_verbosity(optuna.logging.WARNING)

DEFAULTS = [(task, key) for task, spaces in DEFAULT_SPACES.items() for key in spaces]


@pytest.mark.parametrize(("task", "key"), DEFAULTS)
def test_it_proposes_a_valid_space_for_every_tunable_algorithm(task, key):
    space = validate_search_space(task, key, None, strategy="random")

    assert space
    assert set(space) <= {p.name for p in CATALOG[task][key].params}


def test_it_refuses_an_algorithm_with_nothing_to_tune():
    with pytest.raises(SpecError) as caught:
        validate_search_space("regression", "linear", None)

    assert caught.value.field == "search_space"
    assert "nothing to tune" in caught.value.message


@pytest.mark.parametrize(
    ("space", "field", "words"),
    [
        ({}, "search_space", "empty"),
        ({"depth": {"type": "int", "low": 1, "high": 3}}, "search_space.depth", "no "),
        (
            {"C": {"type": "float", "low": 10, "high": 1}},
            "search_space.C.high",
            "at least low",
        ),
        (
            {"C": {"type": "float", "low": 1e-9, "high": 1}},
            "search_space.C.low",
            "between",
        ),
        (
            {"C": {"type": "int", "low": 1, "high": 3}},
            "search_space.C.type",
            "choice or float",
        ),
        (
            {"kernel": {"type": "choice", "choices": ["rbf", "magic"]}},
            "search_space.kernel.choices.1",
            "not one of",
        ),
        (
            {"kernel": {"type": "choice", "choices": []}},
            "search_space.kernel.choices",
            "non-empty",
        ),
        (
            {
                "C": {"type": "float", "low": 0.1, "high": 1},
                "degree": {"type": "int", "low": 2, "high": 3, "when": {"C": [1]}},
            },
            "search_space.degree.when",
            "choice parameter",
        ),
        (
            {"C": {"type": "float", "low": 0.1, "high": 1, "steps": 1}},
            "search_space.C.steps",
            "grid points",
        ),
        ({"C": [1, 2]}, "search_space.C", "object"),
    ],
)
def test_it_names_the_field_of_a_bad_search_space(space, field, words):
    with pytest.raises(SpecError) as caught:
        validate_search_space("classification", "svm", space)

    assert caught.value.field == field
    assert words in caught.value.message


def test_it_refuses_a_log_scale_that_starts_at_zero():
    space = {"l2_regularization": {"type": "float", "low": 0, "high": 1, "log": True}}
    with pytest.raises(SpecError) as caught:
        validate_search_space("regression", "hist_gradient_boosting", space)

    assert caught.value.field == "search_space.l2_regularization.low"
    assert "log scale" in caught.value.message


def test_it_refuses_an_unknown_strategy():
    with pytest.raises(SpecError) as caught:
        validate_search_space("classification", "svm", None, strategy="genetic")

    assert caught.value.field == "strategy"


def test_it_refuses_a_grid_too_large_to_run():
    space = {
        "n_estimators": {"type": "int", "low": 50, "high": 500, "steps": 50},
        "max_depth": {"type": "int", "low": 3, "high": 30, "steps": 25},
    }
    with pytest.raises(SpecError, match="1,250 combinations"):
        validate_search_space("classification", "random_forest", space, strategy="grid")


def test_it_spaces_grid_points_on_a_log_scale_and_merges_equal_integers():
    space = validate_search_space(
        "classification",
        "svm",
        {
            "C": {"type": "float", "low": 0.01, "high": 100, "log": True, "steps": 5},
            "degree": {"type": "int", "low": 2, "high": 3, "steps": 5},
        },
        strategy="grid",
    )

    points = grid_points(space)
    assert points["C"] == pytest.approx([0.01, 0.1, 1, 10, 100])
    assert points["degree"] == [2, 3]
    assert grid_size(space) == 10


def test_it_searches_a_conditional_parameter_only_when_its_condition_holds():
    space = validate_search_space("classification", "svm", None)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for _ in range(30):
        trial = study.ask()
        params = suggest_params(trial, space)
        seen.append(params)
        study.tell(trial, 0.0)

    assert all(("degree" in p) == (p["kernel"] == "poly") for p in seen)
    assert any("degree" in p for p in seen) and any("degree" not in p for p in seen)


def test_it_starts_from_the_defaults_that_lie_inside_the_space():
    proposed = validate_search_space("classification", "svm", None)
    narrow = validate_search_space(
        "classification",
        "svm",
        {
            "C": {"type": "float", "low": 10, "high": 100},
            "kernel": {"type": "choice", "choices": ["poly", "linear"]},
            "degree": {
                "type": "int",
                "low": 2,
                "high": 5,
                "when": {"kernel": ["poly"]},
            },
        },
    )

    # The proposed space holds C=1, rbf, no class weight; degree waits for poly.
    assert default_trial_params("classification", "svm", proposed) == {
        "C": 1.0,
        "kernel": "rbf",
        "class_weight": "none",
    }
    # C=1 is below 10 and rbf is not offered: the sampler picks those, and the
    # degree's condition (poly) is not the default's, so it is left out too.
    assert default_trial_params("classification", "svm", narrow) == {}


def test_it_keeps_a_conditional_default_when_the_defaults_meet_its_condition():
    space = validate_search_space(
        "classification",
        "svm",
        {
            "kernel": {"type": "choice", "choices": ["poly", "rbf"]},
            "degree": {"type": "int", "low": 2, "high": 5, "when": {"kernel": ["rbf"]}},
        },
    )

    assert default_trial_params("classification", "svm", space) == {
        "kernel": "rbf",
        "degree": 3,
    }


def test_it_recovers_each_folds_score_from_the_running_means():
    assert fold_values([0.8, 0.7, 0.7]) == pytest.approx([0.8, 0.6, 0.7])


def test_it_measures_a_gain_by_fold_and_its_standard_error():
    gain, se = gain_over([0.9, 0.8, 0.7], [0.8, 0.8, 0.6], higher_is_better=True)
    assert gain == pytest.approx(0.0667, abs=1e-4)
    assert se == pytest.approx(0.0333, abs=1e-4)

    # For an error metric, lower is the gain.
    gain, _ = gain_over([1.0, 1.2], [1.5, 1.3], higher_is_better=False)
    assert gain == pytest.approx(0.3)

    with pytest.raises(ValueError):
        gain_over([0.9], [0.8, 0.7], higher_is_better=True)


def test_it_scores_a_trial_like_the_training_cross_validation():
    frame = _frame()
    params = {"C": 0.3}
    score, cv = score_params(
        frame.iloc[:120],
        target="label",
        task_type="classification",
        feature_spec=SPEC,
        algorithm="logistic_regression",
        params=params,
        metric="f1_macro",
        cv_folds=3,
        random_state=4,
    )
    trained = train_model(
        frame.iloc[:120],
        None,
        target="label",
        task_type="classification",
        feature_spec=SPEC,
        algorithm="logistic_regression",
        params=params,
        cv_folds=3,
        random_state=4,
    )

    assert score == pytest.approx(trained.cv["f1_macro"]["mean"])
    assert cv["f1_macro"]["folds"] == trained.cv["f1_macro"]["folds"]


def test_it_scores_one_fold_of_a_split_as_the_whole_cv_scores_it():
    # The check on new folds shares one CV's folds out among jobs.
    kw = {
        "target": "label",
        "task_type": "classification",
        "feature_spec": SPEC,
        "algorithm": "decision_tree",
        "params": {"max_depth": 3},
        "metric": "f1_macro",
        "cv_folds": 3,
        "fold_seed": 11,
    }
    _score, whole = score_params(_frame(), **kw)
    _score, second = score_params(_frame(), only_folds={1}, **kw)
    _score, other_seed = score_params(_frame(), **{**kw, "fold_seed": 12})

    assert second["f1_macro"]["folds"] == [whole["f1_macro"]["folds"][1]]
    assert other_seed["f1_macro"]["folds"] != whole["f1_macro"]["folds"]


def test_it_prunes_when_asked_after_a_fold():
    with pytest.raises(TrialPruned, match="after 1 fold"):
        score_params(
            _frame(),
            target="label",
            task_type="classification",
            feature_spec=SPEC,
            algorithm="decision_tree",
            params={},
            metric="accuracy",
            cv_folds=3,
            on_fold=lambda done, mean: True,
        )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_finds_a_better_than_default_tree_with_each_strategy(strategy):
    frame = _frame(rows=200)
    space = validate_search_space(
        "classification",
        "decision_tree",
        {
            "max_depth": {"type": "int", "low": 1, "high": 6, "steps": 3},
            "min_samples_leaf": {"type": "int", "low": 1, "high": 20, "steps": 2},
        },
        strategy=strategy,
    )
    study = optuna.create_study(
        direction=direction("accuracy"),
        sampler=make_sampler(strategy, space, seed=0),
        pruner=make_pruner(strategy),
    )

    def objective(trial):
        params = suggest_params(trial, space)

        def on_fold(done, mean):
            trial.report(mean, done)
            return trial.should_prune()

        score, _cv = score_params(
            frame,
            target="label",
            task_type="classification",
            feature_spec=SPEC,
            algorithm="decision_tree",
            params=params,
            metric="accuracy",
            cv_folds=3,
            on_fold=on_fold,
        )
        return score

    study.optimize(objective, n_trials=6)

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done and study.best_value >= 0.6
    if strategy == "grid":
        assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 6


def test_it_maximises_or_minimises_with_the_metric():
    assert direction("f1_macro") == "maximize"
    assert direction("rmse") == "minimize"
    assert default_search_space("regression", "linear") == {}
