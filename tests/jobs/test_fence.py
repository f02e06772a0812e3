"""Issue 19: retry rules, one active job per subject, fenced results, durable files,
a heartbeat and a reconciler that survive errors. Real Redis, real workers, the
real database."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError, close_old_connections, connection
from django.test import Client
from django.utils import timezone

from projects.jobs import Heartbeat, JobCancelled, Progress
from projects.models import Dataset, Experiment, Job, JobStatus
from projects.services.datasets import dataset_upload
from projects.services.experiments import experiment_create, experiment_train_run
from projects.services.jobs import (
    JobConflict,
    job_cancel,
    job_fail,
    job_retry,
    jobs_reconcile,
)
from projects.services.preparation import dataset_prepare
from projects.services.projects import project_update
from projects.services.tokens import token_create
from tests.conftest import BASE_DIR
from tests.helpers import write_csv
from tests.jobs.test_worker_process import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def status(model, pk) -> str:
    return model.objects.values_list("status", flat=True).get(pk=pk)


def stored_models() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "models"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def prepared(project, owner, tmp_path, run_jobs):
    """A prepared version (upload, profile, prepare run by SimpleWorker)."""
    project.target_column = "churn"
    project.save()
    uploaded, _job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv", rows=1500),
        filename="c.csv",
    )
    run_jobs()
    dataset, _job = dataset_prepare(
        dataset=Dataset.objects.get(pk=uploaded.pk),
        user=owner,
        recipe={"steps": []},
        split={"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1},
    )
    run_jobs()
    assert status(Dataset, dataset.pk) == "ready"
    return Dataset.objects.get(pk=dataset.pk)


@pytest.fixture
def owner_api(owner) -> Client:
    _token, raw = token_create(user=owner, name="tests")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def _train(dataset, owner, algorithm="decision_tree", **params) -> Experiment:
    return experiment_create(
        project=dataset.project,
        dataset=dataset,
        algorithm=algorithm,
        params=params,
        user=owner,
        cv_folds=3,
    )


# ------------------------------------------------------------------ retry rules


def test_it_refuses_to_retry_a_succeeded_job(prepared, owner, owner_api):
    job = Job.objects.get(kind="prepare", subject_id=prepared.pk)
    assert job.status == "succeeded"
    response = owner_api.post(f"/api/jobs/{job.id}/retry")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Only a failed or cancelled job can be retried; this one succeeded."
    )
    assert not Job.objects.filter(retry_of=job).exists()
    assert status(Dataset, prepared.pk) == "ready"


def test_it_refuses_to_retry_an_older_attempt(prepared, owner, owner_api, client_for):
    experiment = _train(prepared, owner)
    first = Job.objects.get(kind="train", subject_id=experiment.pk)
    job_fail(job_id=first.pk, reason="Worker lost")
    first.refresh_from_db()
    again = job_retry(job=first, user=owner)
    job_fail(job_id=again.pk, reason="Worker lost")
    again.refresh_from_db()

    response = owner_api.post(f"/api/jobs/{first.id}/retry")
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"This job was already retried (job {again.pk}); only the latest attempt "
        "can be retried."
    )
    page = client_for(owner).post(f"/jobs/{first.id}/retry/", follow=True)
    assert "only the latest attempt can be retried" in page.text
    assert Job.objects.filter(kind="train", subject_id=experiment.pk).count() == 2

    # The page offers Retry on the latest attempt only.
    fragment = client_for(owner).get(f"/jobs/{first.id}/status/")
    assert f"/jobs/{first.id}/retry/" not in fragment.text
    fragment = client_for(owner).get(f"/jobs/{again.id}/status/")
    assert f"/jobs/{again.id}/retry/" in fragment.text


def test_it_shows_no_retry_button_for_a_succeeded_job(prepared, owner, client_for):
    job = Job.objects.get(kind="prepare", subject_id=prepared.pk)
    page = client_for(owner).post(f"/jobs/{job.id}/retry/", follow=True)
    assert (
        "Only a failed or cancelled job can be retried; this one succeeded."
        in page.text
    )
    fragment = client_for(owner).get(f"/jobs/{job.id}/status/")
    assert "/retry/" not in fragment.text


# ------------------------------------------------------- one active job per subject


def test_it_refuses_a_second_training_of_one_experiment(prepared, owner, owner_api):
    experiment = _train(prepared, owner)
    first = Job.objects.get(kind="train", subject_id=experiment.pk)
    # A retry of an older ended attempt would start a second training while the
    # first is active: the database refuses it.
    old = Job.objects.create(
        kind="train",
        project=prepared.project,
        subject_type="experiment",
        subject_id=experiment.pk,
        status=JobStatus.FAILED,
        queue="training",
    )
    response = owner_api.post(f"/api/jobs/{old.id}/retry")
    assert response.status_code == 409
    assert response.json()["message"] == (
        f"Training is already queued for this experiment (job {first.pk}); wait "
        "for it to end or cancel it."
    )
    assert Job.objects.filter(kind="train", subject_id=experiment.pk).count() == 2
    assert not Job.objects.filter(retry_of=old).exists()


def test_it_lets_one_of_two_concurrent_trainings_start(prepared, owner):
    """Two threads (two connections, two transactions) start a training of the
    same experiment at once: exactly one job, the other refused."""
    experiment = _train(prepared, owner)
    first = Job.objects.get(kind="train", subject_id=experiment.pk)
    job_fail(job_id=first.pk, reason="Worker lost")
    first.refresh_from_db()
    second = Job.objects.create(
        kind="train",
        project=prepared.project,
        subject_type="experiment",
        subject_id=experiment.pk,
        status=JobStatus.CANCELLED,
        queue="training",
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def retry(job: Job) -> None:
        try:
            barrier.wait()
            job_retry(job=job, user=owner)
            outcomes.append("started")
        except JobConflict as exc:
            outcomes.append(exc.messages[0])
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=retry, args=(j,)) for j in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes)[-1] == "started"
    assert outcomes.count("started") == 1
    assert "Training is already queued for this experiment" in sorted(outcomes)[0]
    active = Job.objects.filter(
        kind="train", subject_id=experiment.pk, status__in=Job.ACTIVE
    )
    assert active.count() == 1


def test_it_analyses_two_quick_target_changes_once_with_the_last(
    project, owner, tmp_path, run_jobs
):
    dataset, _job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv"),
        filename="c.csv",
    )
    run_jobs()
    project_update(project=project, user=owner, target_column="churn")
    project_update(project=project, user=owner, target_column="city")
    assert Job.objects.filter(kind="analyze").count() == 1
    run_jobs()
    dataset.refresh_from_db()
    assert dataset.analysis["target_column"] == "city"


def test_it_refuses_a_target_change_inline_while_an_analysis_runs(
    project, owner, tmp_path, run_jobs, client_for
):
    dataset, _job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv"),
        filename="c.csv",
    )
    run_jobs()
    running = Job.objects.create(
        kind="analyze",
        project=project,
        subject_type="dataset",
        subject_id=dataset.pk,
        status=JobStatus.RUNNING,
    )
    response = client_for(owner).post(
        f"/projects/{project.slug}/steps/data/",
        {"action": "target", "target_column": "churn"},
    )
    assert response.status_code == 409
    assert (
        "Analysing the target and sensitive attributes is already running for "
        f"this dataset (job {running.pk})"
    ) in response.text
    project.refresh_from_db()
    assert project.target_column == ""
    assert Job.objects.filter(kind="analyze").count() == 1


# ------------------------------------------------------------------- the fence


def test_it_discards_the_late_result_of_a_job_the_reconciler_failed(
    prepared, owner, start_worker
):
    """A real rqworker is frozen (SIGSTOP) mid-training; the reconciler fails
    its job; thawed, the job's final write is discarded: the Job stays failed,
    the experiment is not succeeded, and its model file is removed."""
    experiment = _train(prepared, owner, "random_forest", n_estimators=300)
    job = Job.objects.get(kind="train", subject_id=experiment.pk)
    baseline_job = Job.objects.get(kind="train", subject_id=experiment.baseline_id)
    job_cancel(job=baseline_job, user=owner)  # only the candidate trains
    worker = start_worker()
    wait_for(
        lambda: status(Experiment, experiment.pk) == "running",
        timeout=60,
        interval=0.01,
    )
    os.killpg(worker.pid, signal.SIGSTOP)
    try:
        assert status(Experiment, experiment.pk) == "running"  # not succeeded yet
        assert status(Job, job.pk) == "running"
        failed = jobs_reconcile(now=timezone.now() + timedelta(minutes=5))
        assert failed == [str(job.pk)]
    finally:
        os.killpg(worker.pid, signal.SIGCONT)
    wait_for(
        lambda: "job result discarded" in Path(worker.log_path).read_text(),
        timeout=120,
        interval=0.2,
    )
    wait_for(
        lambda: "job finished" in Path(worker.log_path).read_text(),
        timeout=30,
        interval=0.2,
    )
    job.refresh_from_db()
    experiment.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("Worker lost")
    assert experiment.status == "failed"
    assert experiment.metrics == {} and not experiment.artifact
    assert stored_models() == []


def test_it_honours_a_cancel_that_arrives_after_the_last_progress_check(
    prepared, owner
):
    """The cancel lands during the final step (after the last progress call
    looked for it): the fence sees it right before the commit."""
    experiment = _train(prepared, owner)
    job = Job.objects.get(kind="train", subject_id=experiment.pk)
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    job.refresh_from_db()

    def progress(percent, message=""):
        Progress(job.pk)(percent, message)
        if message == "Saving the signed model":
            job_cancel(job=job, user=owner)

    with pytest.raises(JobCancelled):
        experiment_train_run(job=job, progress=progress)
    # What run_job does with JobCancelled.
    job_fail(job_id=job.pk, reason="Cancelled by the user", status="cancelled")
    experiment.refresh_from_db()
    assert status(Job, job.pk) == "cancelled"
    assert experiment.status == "cancelled" and not experiment.artifact
    assert stored_models() == []


def test_it_writes_no_file_for_a_job_failed_before_it_stores_one(prepared, owner):
    experiment = _train(prepared, owner)
    job = Job.objects.get(kind="train", subject_id=experiment.pk)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    job.refresh_from_db()

    def progress(percent, message=""):
        if message == "Saving the signed model":
            # The worker is lost right after it stored the model.
            job_fail(job_id=job.pk, reason="Worker lost: no heartbeat for 40 s.")

    with pytest.raises(Exception) as raised:
        experiment_train_run(job=job, progress=progress)
    assert type(raised.value).__name__ == "JobDiscarded"
    assert Job.objects.get(pk=job.pk).files == []  # refused before writing
    assert stored_models() == []
    assert status(Experiment, experiment.pk) == "failed"


def test_it_removes_a_stored_model_no_row_points_at_when_the_job_fails(
    prepared, owner, run_jobs
):
    experiment = _train(prepared, owner)
    run_jobs()
    experiment.refresh_from_db()
    kept = Path(settings.MEDIA_ROOT) / experiment.artifact.name
    assert kept.exists()
    # A lost job that had stored a model but never committed its row.
    lost = Job.objects.create(
        kind="train",
        project=prepared.project,
        subject_type="experiment",
        subject_id=experiment.baseline_id,
        status=JobStatus.RUNNING,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        files=["models/orphan.lcmodel", experiment.artifact.name],
    )
    orphan = Path(settings.MEDIA_ROOT) / "models" / "orphan.lcmodel"
    orphan.write_bytes(b"partial")
    assert jobs_reconcile() == [str(lost.pk)]
    assert not orphan.exists()
    assert kept.exists()  # a committed row points at it


def test_it_removes_the_partial_file_of_a_killed_writer(db):
    folder = Path(settings.MEDIA_ROOT) / "models" / "7"
    folder.mkdir(parents=True)
    old = folder / ".abc123.part"
    old.write_bytes(b"half a model")
    os.utime(old, (0, 0))
    writing = folder / ".def456.part"  # a write still under way
    writing.write_bytes(b"half")
    jobs_reconcile()
    assert not old.exists() and writing.exists()


# ------------------------------------------------- heartbeat and reconciler loop


def test_it_keeps_the_heartbeat_going_after_a_database_error(prepared, caplog):
    job = Job.objects.get(kind="prepare", subject_id=prepared.pk)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=None)
    calls = {"n": 0}

    def fail_once(execute, sql, params, many, context):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    heartbeat = Heartbeat(job.pk)
    with caplog.at_level(logging.WARNING, logger="projects.jobs"):
        with connection.execute_wrapper(fail_once):
            heartbeat.beat()
        assert Job.objects.get(pk=job.pk).heartbeat_at is None
        heartbeat.beat()
    assert Job.objects.get(pk=job.pk).heartbeat_at is not None
    assert "heartbeat failed" in caplog.text


def test_it_keeps_the_reconciler_loop_running_when_the_database_is_down(
    worker_env, tmp_path
):
    env = {
        **worker_env,
        # Nothing listens there: every round fails to reach the database.
        "DATABASE_URL": "postgres://postgres@127.0.0.1:9/nothing",
    }
    log = tmp_path / "reconciler.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "reconcile_jobs", "--loop", "--every", "0.1"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: log.read_text().count("reconcile round failed; see the log") >= 3,
            timeout=60,
            interval=0.1,
        )
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)
