"""Tuning studies with a real Redis, real jobs and Optuna's storage on the test
database: a study runs its budget and trains the best, failing trials are recorded,
cancel keeps what finished, bad input writes nothing.

Transactional: Optuna writes on its own connection, which must see committed rows
(and, on SQLite, must not wait behind the test's open transaction).
"""

from __future__ import annotations

from datetime import timedelta

import optuna
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from projects.models import Experiment, Job, Study, Trial
from projects.services.experiments import features_resolve
from projects.services.jobs import job_fail
from projects.services.tuning import (
    _budget_left,
    _time_is_up,
    optuna_storage,
    study_cancel,
    study_check_progress,
    study_create,
    study_finish,
    study_importance,
)

pytestmark = pytest.mark.django_db(transaction=True)

TREE_SPACE = {
    "max_depth": {"type": "int", "low": 1, "high": 8},
    "min_samples_leaf": {"type": "int", "low": 1, "high": 30, "log": True},
}


@pytest.fixture
def tune(prepared_dataset, owner, run_jobs):
    def start(**kw):
        defaults = {
            "algorithm": "decision_tree",
            "strategy": "bayesian",
            "max_trials": 6,
            "search_space": TREE_SPACE,
            "cv_folds": 3,
            "parallelism": 2,
        }
        return study_create(
            project=prepared_dataset.project,
            dataset=prepared_dataset,
            user=owner,
            **{**defaults, **kw},
        )

    return start


def test_it_runs_the_budget_and_trains_the_best_as_an_experiment(tune, run_jobs):
    study = tune()

    run_jobs()

    study.refresh_from_db()
    assert study.status == "succeeded", study.error
    trials = list(study.trials.order_by("number"))
    assert [t.number for t in trials] == list(range(6))
    assert study.n_trials == 6 and study.trials_started == 6
    complete = [t for t in trials if t.status == "complete"]
    best = max(complete, key=lambda t: t.score)
    assert study.best_score == best.score and study.best_params == best.params
    # It trains the best, or the defaults (trial 0) when the best's lead is noise.
    chosen = trials[study.selection["trial"]]
    assert chosen.number == (
        0 if study.selection["kept"] == "defaults" else best.number
    )
    experiment = study.best_experiment
    assert experiment.status == "succeeded", experiment.error
    assert experiment.params["max_depth"] == chosen.params["max_depth"]
    assert f"study #{study.pk}" in experiment.name
    stored = optuna.load_study(study_name=study.optuna_name, storage=optuna_storage())
    assert len(stored.trials) == 6


@pytest.mark.parametrize("job_seconds", [0, 10])
@pytest.mark.parametrize("strategy", ["random", "bayesian"])
def test_it_draws_new_parameters_for_each_trial(
    tune, run_jobs, settings, strategy, job_seconds
):
    # Every trial gets a new sampler seeded by its slot, in a new job or in the
    # same one: seeded with the study's seed alone, each would draw the same first
    # point (random search tried one point six times).
    settings.TUNING_JOB_SECONDS = job_seconds
    space = {"max_depth": {"type": "int", "low": 2, "high": 100}}
    study = tune(strategy=strategy, search_space=space)

    run_jobs()

    params = [t.params["max_depth"] for t in study.trials.all()]
    assert len(params) == 6 and len(set(params)) >= 5


@pytest.mark.parametrize("strategy", ["random", "bayesian"])
def test_studies_with_neighbouring_seeds_draw_different_points(
    tune, run_jobs, strategy
):
    # Seeds added to the slot made seed 1 repeat seed 0's draws one trial later.
    space = {
        "max_depth": {"type": "int", "low": 1, "high": 100},
        "min_samples_leaf": {"type": "int", "low": 2, "high": 1000},
    }
    studies = [
        tune(strategy=strategy, search_space=space, random_state=seed)
        for seed in (0, 1)
    ]

    run_jobs()

    drawn = [{tuple(sorted(t.params.items())) for t in s.trials.all()} for s in studies]
    assert all(len(d) == 6 for d in drawn)
    assert not drawn[0] & drawn[1]


def test_short_trials_share_a_job_and_a_zero_slice_gives_each_its_own(
    tune, run_jobs, settings
):
    study = tune()
    run_jobs()
    shared = {t.job_id for t in study.trials.all()}

    settings.TUNING_JOB_SECONDS = 0
    alone = tune()
    run_jobs()

    assert study.trials.count() == alone.trials.count() == 6
    # Six trials of a few milliseconds fit in one job's 10-second slice.
    assert len(shared) == 1
    assert len({t.job_id for t in alone.trials.all()}) == 6


@pytest.mark.parametrize("strategy", ["random", "bayesian", "halving"])
def test_it_tries_the_algorithms_defaults_first(tune, run_jobs, strategy):
    # The decision tree's default leaf size (1) lies in the space, its default
    # depth (unlimited) does not: the first trial keeps the one, samples the other.
    study = tune(strategy=strategy)

    run_jobs()

    trials = list(study.trials.order_by("number"))
    assert trials[0].params["min_samples_leaf"] == 1
    assert 1 <= trials[0].params["max_depth"] <= 8
    assert sum(t.params["min_samples_leaf"] == 1 for t in trials) < len(trials)
    study.refresh_from_db()
    first = trials[0].score
    assert study.best_score >= first


# On the test table (whose target is noise) the one-split tree predicts the
# majority class on every fold (f1_macro about 0.41); the full-depth tree predicts
# both classes (about 0.5).
LEAF_7 = {"max_depth": 3, "min_samples_leaf": 7}
STUMP = {"max_depth": 1, "min_samples_leaf": 30}
DEEP = {"max_depth": 8, "min_samples_leaf": 1}


def _running_means(folds: list[float]) -> list[float]:
    return [sum(folds[:k]) / k for k in range(1, len(folds) + 1)]


@pytest.fixture
def ended(prepared_dataset, owner):
    """A finished random search of the tree whose trial 0 tried the defaults and
    trial 1 scored best, with the given per-fold scores."""

    def make(
        *,
        best: list[float],
        defaults: list[float],
        is_defaults=True,
        params=({"max_depth": 5, "min_samples_leaf": 1}, LEAF_7),
    ):
        study = Study.objects.create(
            project=prepared_dataset.project,
            dataset=prepared_dataset,
            algorithm="decision_tree",
            strategy="random",
            search_space=TREE_SPACE,
            feature_spec=features_resolve(
                prepared_dataset.project, prepared_dataset, None
            )[0],
            metric="f1_macro",
            higher_is_better=True,
            max_trials=2,
            cv_folds=len(best),
            optuna_name=f"ended-{len(best)}-{best[0]}",
            status="finishing",
            trials_started=2,
            n_trials=2,
            best_score=sum(best) / len(best),
            best_params=params[1],
            best_trial_number=1,
            created_by=owner,
        )
        for number, folds in ((0, defaults), (1, best)):
            Trial.objects.create(
                study=study,
                number=number,
                params=params[number],
                status="complete",
                score=sum(folds) / len(folds),
                intermediate=_running_means(folds),
                is_defaults=is_defaults and number == 0,
            )
        return study

    return make


def test_it_keeps_the_defaults_when_the_best_leads_by_less_than_the_noise(
    ended, run_jobs
):
    # The best wins two folds and loses one: a mean lead of 0.01 +- 0.04.
    study = ended(best=[0.80, 0.84, 0.74], defaults=[0.75, 0.79, 0.81])

    study = study_finish(study=study)
    run_jobs()

    assert study.selection["kept"] == "defaults"
    assert study.selection["trial"] == 0 and study.selection["best_trial"] == 1
    assert study.selection["gain"] == pytest.approx(0.01)
    assert study.selection["se"] == pytest.approx(0.04)
    assert "confirm" not in study.selection  # no lead to check on new folds
    # The search's best stays on record; the defaults are what is trained.
    assert study.best_trial_number == 1
    experiment = Experiment.objects.get(pk=study.best_experiment_id)
    assert experiment.params["max_depth"] == 5
    assert experiment.name.endswith(f"defaults kept by study #{study.pk}")
    assert experiment.status == "succeeded", experiment.error


def test_it_trains_the_best_when_it_leads_on_its_folds_and_on_new_ones(ended, run_jobs):
    study = ended(
        best=[0.50, 0.54, 0.53], defaults=[0.45, 0.49, 0.47], params=(STUMP, DEEP)
    )

    study = study_finish(study=study)

    # The check on new folds is handed out as jobs, one per worker of the study.
    assert study.status == "finishing" and study.best_experiment_id is None
    assert study_check_progress(study) == {"folds_done": 0, "folds": 6}
    checks = Job.objects.filter(subject_id=study.pk, kind="study_check")
    assert checks.count() == 2

    run_jobs()

    study.refresh_from_db()
    assert study.status == "succeeded" and study.checking == {}
    assert {j.status for j in checks} == {"succeeded"}
    assert study.selection["kept"] == "best" and study.selection["trial"] == 1
    assert study.selection["gain"] == pytest.approx(0.0533, abs=1e-4)
    assert study.selection["gain"] > study.selection["se"]
    confirm = study.selection["confirm"]
    assert confirm["folds"] == 3 and confirm["gain"] > confirm["se"] > 0
    assert confirm["jobs"] == 2 and confirm["fold_seconds"] > 0
    experiment = Experiment.objects.get(pk=study.best_experiment_id)
    assert experiment.params["max_depth"] == 8
    assert experiment.name.endswith(f"best of study #{study.pk}")


def test_it_keeps_the_defaults_when_the_bests_lead_is_gone_on_new_folds(
    ended, run_jobs
):
    # The search's folds say the stump leads on every fold; new folds say it
    # loses, as it does on this table.
    study = ended(
        best=[0.50, 0.54, 0.53], defaults=[0.45, 0.49, 0.47], params=(DEEP, STUMP)
    )

    study_finish(study=study)
    run_jobs()

    study.refresh_from_db()

    assert study.selection["kept"] == "defaults" and study.selection["trial"] == 0
    assert study.selection["gain"] > study.selection["se"]
    confirm = study.selection["confirm"]
    assert confirm["folds"] == 3 and confirm["gain"] < 0
    experiment = Experiment.objects.get(pk=study.best_experiment_id)
    assert experiment.params["max_depth"] == 8
    assert experiment.name.endswith(f"defaults kept by study #{study.pk}")


def test_a_time_budget_keeps_time_for_the_check_on_new_folds(ended):
    study = ended(best=[0.5, 0.5, 0.5], defaults=[0.4, 0.4, 0.4])
    Trial.objects.filter(study=study, number=0).update(seconds=2.0)
    Trial.objects.filter(study=study, number=1).update(seconds=4.0)
    Trial.objects.create(study=study, number=2, status="complete", seconds=0.1)
    study.time_budget_s = 60
    study.max_trials = None

    # Cross-validating the defaults and the best again takes 6 s, shared by
    # the study's 2 workers: 3 s are kept, and trials end 57 s in. A trial
    # starts when the time left is at least the finished trials' average
    # (2.03 s).
    def left_at(elapsed: float) -> bool:
        study.started_at = timezone.now() - timedelta(seconds=elapsed)
        return _budget_left(study)

    assert left_at(54.0)
    assert not left_at(55.5)  # 1.5 s left: less than a trial takes
    assert not left_at(57.5)  # past the deadline


def test_a_time_budget_stops_a_trial_as_soon_as_it_cannot_end_in_time(ended):
    study = ended(best=[0.5, 0.5, 0.5], defaults=[0.4, 0.4, 0.4])
    Study.objects.filter(pk=study.pk).update(
        time_budget_s=60, started_at=timezone.now() - timedelta(seconds=50)
    )

    # 10 s to the deadline; a trial of 3 folds has done 1. At 4 s a fold, the
    # 2 folds left end in time; at 6 s a fold they would not.
    assert not _time_is_up(study, folds_done=1, seconds=4.0)
    assert _time_is_up(study, folds_done=1, seconds=6.0)
    assert not _time_is_up(study, folds_done=2, seconds=12.0)
    # Nothing is stopped while no trial has finished.
    Study.objects.filter(pk=study.pk).update(best_score=None)
    assert not _time_is_up(study, folds_done=1, seconds=60.0)


def test_a_check_whose_job_is_lost_keeps_the_searchs_verdict(ended, run_jobs):
    study = ended(
        best=[0.50, 0.54, 0.53], defaults=[0.45, 0.49, 0.47], params=(STUMP, DEEP)
    )
    study_finish(study=study)
    lost, other = Job.objects.filter(subject_id=study.pk, kind="study_check")

    job_fail(job_id=lost.pk, reason="The worker stopped responding.")
    run_jobs()

    study.refresh_from_db()
    assert study.status == "succeeded" and study.selection["kept"] == "best"
    confirm = study.selection["confirm"]
    assert confirm["error"] == "The worker stopped responding."
    # The other job found the check ended and scored nothing.
    assert confirm["fold_seconds"] == 0 and study.checking == {}
    other.refresh_from_db()
    assert other.status == "succeeded"
    experiment = Experiment.objects.get(pk=study.best_experiment_id)
    assert experiment.params["max_depth"] == 8


def test_cancel_during_the_check_trains_nothing(ended, run_jobs, owner):
    study = ended(
        best=[0.50, 0.54, 0.53], defaults=[0.45, 0.49, 0.47], params=(STUMP, DEEP)
    )
    study_finish(study=study)

    study_cancel(study=study, user=owner)
    run_jobs()

    study.refresh_from_db()
    assert study.status == "cancelled" and study.best_experiment_id is None
    assert study_check_progress(study) is None
    statuses = Job.objects.filter(subject_id=study.pk, kind="study_check")
    assert {j.status for j in statuses} == {"cancelled"}
    assert not Experiment.objects.filter(project=study.project).exists()


def test_it_trains_the_best_when_no_trial_tried_the_defaults(ended):
    study = ended(
        best=[0.80, 0.84, 0.74], defaults=[0.75, 0.79, 0.81], is_defaults=False
    )

    study = study_finish(study=study)

    assert study.selection == {
        "kept": "best",
        "trial": 1,
        "params": {"max_depth": 3, "min_samples_leaf": 7},
        "score": pytest.approx(0.7933, abs=1e-4),
    }


def test_it_records_each_fold_for_the_pruner(tune, run_jobs):
    study = tune(strategy="halving", max_trials=8)

    run_jobs()

    trials = Trial.objects.filter(study=study)
    assert all(1 <= len(t.intermediate) <= 3 for t in trials)
    assert {t.status for t in trials} <= {"complete", "pruned"}


def test_it_records_every_fold_without_a_pruner_and_spares_optuna_the_reports(
    tune, run_jobs
):
    study = tune(strategy="random", max_trials=3)

    run_jobs()

    assert [len(t.intermediate) for t in study.trials.all()] == [3, 3, 3]
    stored = optuna.load_study(study_name=study.optuna_name, storage=optuna_storage())
    assert [t.intermediate_values for t in stored.trials] == [{}, {}, {}]


def test_optunas_sqlite_connections_sync_like_djangos():
    if connection.vendor != "sqlite":
        pytest.skip("a SQLite setting")
    with connection.cursor() as cursor:
        ours = cursor.execute("PRAGMA synchronous").fetchone()[0]
    with optuna_storage().engine.connect() as conn:
        theirs = conn.exec_driver_sql("PRAGMA synchronous").scalar()

    assert ours == theirs == 1  # NORMAL


def test_it_records_a_failing_trial_and_goes_on(tune, run_jobs):
    # More neighbours than the ~100 rows of a training fold cannot be found.
    space = {"n_neighbors": {"type": "choice", "choices": [3, 150]}}
    study = tune(algorithm="knn", strategy="grid", search_space=space, max_trials=2)

    run_jobs()

    study.refresh_from_db()
    failed = study.trials.get(status="failed")
    assert failed.params == {"n_neighbors": 150}
    assert "n_neighbors" in failed.error
    assert study.status == "succeeded" and study.best_params == {"n_neighbors": 3}


def test_it_fails_a_study_whose_every_trial_failed_with_the_first_reason(
    tune, run_jobs
):
    space = {"n_neighbors": {"type": "choice", "choices": [150, 190]}}
    study = tune(algorithm="knn", strategy="grid", search_space=space)

    run_jobs()

    study.refresh_from_db()
    assert study.status == "failed"
    assert study.error.startswith("No trial finished. The first failure:")
    assert study.best_experiment is None


def test_it_stops_starting_trials_when_the_time_budget_is_spent(tune, run_jobs):
    study = tune(max_trials=None, time_budget_s=10)
    Study.objects.filter(pk=study.pk).update(
        status="running", started_at=timezone.now() - timedelta(hours=1)
    )

    run_jobs()

    study.refresh_from_db()
    assert study.trials.count() == 0
    assert study.status == "failed" and "No trial finished" in study.error


def test_it_cancels_a_study_and_keeps_what_finished(tune, run_jobs, owner):
    study = tune()

    study = study_cancel(study=study, user=owner)
    run_jobs()

    assert study.status == "cancelled"
    assert not Job.objects.filter(subject_id=study.pk, status__in=Job.ACTIVE).exists()
    with pytest.raises(ValidationError):
        study_cancel(study=study, user=owner)


def test_it_gives_parameter_importance_once_enough_trials_finished(tune, run_jobs):
    study = tune(strategy="random", max_trials=8)
    run_jobs()

    importance = study_importance(Study.objects.get(pk=study.pk))

    assert set(importance) == {"max_depth", "min_samples_leaf"}
    assert sum(importance.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"search_space": {}}, "search_space"),
        (
            {"search_space": {"max_depth": {"type": "int", "low": 5, "high": 1}}},
            "search_space.max_depth.high",
        ),
        ({"strategy": "genetic"}, "strategy"),
        ({"algorithm": "baseline", "search_space": None}, "search_space"),
        ({"max_trials": None, "time_budget_s": None}, "max_trials"),
        ({"max_trials": 0}, "max_trials"),
        ({"time_budget_s": 5}, "time_budget_s"),
    ],
)
def test_it_refuses_a_bad_study_naming_the_field_and_writes_nothing(tune, kw, field):
    with pytest.raises(ValidationError) as caught:
        tune(**kw)

    assert field in caught.value.message_dict
    assert not Study.objects.exists()
    assert not Job.objects.filter(kind="trial").exists()
    assert not Experiment.objects.exists()
