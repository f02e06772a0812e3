"""Training with real `manage.py rqworker` processes: several experiments at once,
cancel while running, and a worker killed mid-training (R01)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from projects.models import Dataset, Experiment, Job
from projects.services.datasets import dataset_upload
from projects.services.experiments import experiment_cancel, experiment_create
from projects.services.preparation import dataset_prepare
from tests.conftest import BASE_DIR
from tests.helpers import write_csv
from tests.jobs.test_worker_process import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def status(model, pk) -> str:
    return model.objects.values_list("status", flat=True).get(pk=pk)


@pytest.fixture
def prepared(project, owner, tmp_path, start_worker):
    """A prepared version made by a real worker; returns (dataset, worker)."""
    project.target_column = "churn"
    project.save()
    uploaded, _job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv", rows=400),
        filename="c.csv",
    )
    worker = start_worker()
    wait_for(lambda: status(Dataset, uploaded.pk) == "ready", timeout=60, interval=0.1)
    dataset, _job = dataset_prepare(
        dataset=Dataset.objects.get(pk=uploaded.pk),
        user=owner,
        recipe={"steps": []},
        split={"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1},
    )
    wait_for(lambda: status(Dataset, dataset.pk) == "ready", timeout=60, interval=0.1)
    return Dataset.objects.get(pk=dataset.pk), worker


def _create(dataset, owner, algorithm, **params):
    return experiment_create(
        project=dataset.project,
        dataset=dataset,
        algorithm=algorithm,
        params=params,
        user=owner,
        cv_folds=5,
    )


def test_it_trains_queued_experiments_one_after_another(prepared, owner, start_worker):
    dataset, _worker = prepared
    start_worker()  # two workers share the training queue
    created = [
        _create(dataset, owner, "logistic_regression"),
        _create(dataset, owner, "decision_tree", max_depth=3),
    ]
    ids = [e.pk for e in created] + [created[0].baseline_id]

    wait_for(
        lambda: all(status(Experiment, pk) == "succeeded" for pk in ids),
        timeout=120,
        interval=0.2,
    )
    # Each ran exactly once, and each candidate's analysis followed.
    assert Job.objects.filter(kind="train", status="succeeded").count() == 3
    wait_for(
        lambda: (
            Job.objects.filter(kind="analyze_experiment", status="succeeded").count()
            == 2
        ),
        timeout=120,
        interval=0.2,
    )


def test_it_cancels_a_running_experiment(prepared, owner):
    dataset, _worker = prepared
    baseline = _create(dataset, owner, "baseline")
    wait_for(lambda: status(Experiment, baseline.pk) == "succeeded", 60, 0.1)
    slow = _create(dataset, owner, "random_forest", n_estimators=1500)
    wait_for(lambda: status(Experiment, slow.pk) == "running", 60, 0.02)

    experiment_cancel(experiment=Experiment.objects.get(pk=slow.pk), user=owner)

    wait_for(lambda: status(Experiment, slow.pk) == "cancelled", 60, 0.1)
    job = Job.objects.get(subject_id=slow.pk, kind="train")
    assert job.status == "cancelled"
    assert not Experiment.objects.get(pk=slow.pk).artifact


def test_it_fails_an_experiment_whose_worker_is_killed(
    prepared, owner, worker_env, start_worker
):
    dataset, worker = prepared
    baseline = _create(dataset, owner, "baseline")
    wait_for(lambda: status(Experiment, baseline.pk) == "succeeded", 60, 0.1)
    slow = _create(dataset, owner, "random_forest", n_estimators=1500)
    wait_for(lambda: status(Experiment, slow.pk) == "running", 60, 0.02)
    job = Job.objects.get(subject_id=slow.pk, kind="train")
    horse = Job.objects.get(pk=job.pk).worker.rsplit(":", 1)[-1]
    os.kill(int(horse), signal.SIGKILL)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = time.monotonic()

    reconciler = subprocess.Popen(
        [sys.executable, "manage.py", "reconcile_jobs", "--loop", "--every", "1"],
        cwd=BASE_DIR,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: status(Experiment, slow.pk) == "failed", 90, 0.2)
    finally:
        reconciler.kill()
        reconciler.wait(timeout=10)

    assert time.monotonic() - killed_at < 90
    experiment = Experiment.objects.get(pk=slow.pk)
    assert experiment.error.startswith("Worker lost")
    assert not experiment.artifact
