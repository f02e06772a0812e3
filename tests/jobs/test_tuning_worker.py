"""One study shared by two real `manage.py rqworker` processes: every trial runs
once, none is lost, both workers take part; a killed worker costs one trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

import optuna
import pytest
from django.db.models import F
from django_rq import get_connection
from rq import Worker

from projects.models import Job, Study, Trial
from projects.services.tuning import optuna_storage, study_create
from tests.conftest import BASE_DIR
from tests.jobs.test_training_worker import prepared, status  # noqa: F401
from tests.jobs.test_worker_process import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _study(dataset, owner, **kw):
    defaults = {
        "algorithm": "random_forest",
        "strategy": "bayesian",
        "search_space": {
            "n_estimators": {"type": "int", "low": 20, "high": 60},
            "max_depth": {"type": "int", "low": 2, "high": 8},
        },
        "cv_folds": 3,
        "parallelism": 2,
    }
    return study_create(
        project=dataset.project, dataset=dataset, user=owner, **{**defaults, **kw}
    )


def test_it_shares_one_study_between_two_workers(prepared, owner, start_worker):  # noqa: F811
    dataset, _worker = prepared
    start_worker()
    wait_for(lambda: len(Worker.all(connection=get_connection())) == 2, 60, 0.1)
    study = _study(dataset, owner, max_trials=8)

    wait_for(lambda: status(Study, study.pk) == "succeeded", timeout=240, interval=0.3)

    trials = Trial.objects.filter(study=study)
    assert sorted(t.number for t in trials) == list(range(8))
    stored = optuna.load_study(study_name=study.optuna_name, storage=optuna_storage())
    assert len(stored.trials) == 8
    # Both workers took part: some two trials ran at the same time.
    spans = [(t.started_at, t.finished_at) for t in trials]
    assert any(
        a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :]
    )
    assert Study.objects.get(pk=study.pk).best_experiment is not None


def test_it_loses_only_the_running_trial_when_a_worker_dies(
    prepared,  # noqa: F811
    owner,
    start_worker,
    worker_env,
):
    dataset, worker = prepared
    study = _study(dataset, owner, max_trials=4, parallelism=1)
    wait_for(
        lambda: Trial.objects.filter(study=study, status="running").first(),
        timeout=60,
        interval=0.05,
    )
    running = Trial.objects.get(study=study, status="running")
    horse = Job.objects.get(pk=running.job_id).worker.rsplit(":", 1)[-1]
    os.kill(int(horse), signal.SIGKILL)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    reconciler = subprocess.Popen(
        [sys.executable, "manage.py", "reconcile_jobs", "--loop", "--every", "1"],
        cwd=BASE_DIR,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    start_worker()
    try:
        wait_for(lambda: status(Study, study.pk) == "succeeded", 240, 0.3)
    finally:
        reconciler.kill()
        reconciler.wait(timeout=10)

    lost = Trial.objects.get(pk=running.pk)
    assert lost.status == "failed" and lost.error.startswith("Worker lost")
    assert Trial.objects.filter(study=study).count() == 4
    assert Trial.objects.filter(study=study, status="complete").count() == 3


def test_a_time_budget_stops_the_running_trial_at_its_next_fold(prepared, owner):  # noqa: F811
    dataset, _worker = prepared
    # Trials of a few seconds over 10 folds; no default lies in the space, so
    # there is no defaults trial and no time kept for the check on new folds.
    study = _study(
        dataset,
        owner,
        strategy="random",
        time_budget_s=3600,
        search_space={"n_estimators": {"type": "int", "low": 300, "high": 310}},
        cv_folds=10,
        parallelism=1,
    )
    wait_for(
        lambda: Trial.objects.filter(study=study, number=1, status="running").exists(),
        timeout=120,
        interval=0.05,
    )
    # The budget runs out while trial 1 runs (trial 0 finished: a result exists).
    Study.objects.filter(pk=study.pk).update(
        started_at=F("started_at") - timedelta(seconds=3600)
    )

    wait_for(lambda: status(Study, study.pk) == "succeeded", timeout=120, interval=0.2)

    first, stopped = Trial.objects.filter(study=study).order_by("number")
    assert first.status == "complete" and len(first.intermediate) == 10
    assert (
        stopped.status == "pruned"
        and stopped.error == "the time budget would run out before it ended"
    )
    assert 1 <= len(stopped.intermediate) < 10
    assert Study.objects.get(pk=study.pk).best_trial_number == 0
