"""Jobs run for real: Redis, RQ's SimpleWorker in this thread, the Job table."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from projects.jobs import run_job
from projects.models import Dataset, Job
from projects.services.datasets import dataset_upload
from projects.services.jobs import job_cancel, job_retry, jobs_reconcile
from projects.services.projects import project_analyze_latest
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def uploaded(project, owner, tmp_path):
    return dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv"),
        filename="c.csv",
    )


def test_it_profiles_an_upload_in_the_background(uploaded, run_jobs):
    dataset, job = uploaded
    assert django_rq.get_queue("default").count == 1
    run_jobs()
    job.refresh_from_db()
    dataset.refresh_from_db()
    assert (job.status, job.progress) == ("succeeded", 100)
    assert job.started_at and job.finished_at and job.heartbeat_at
    assert dataset.status == "ready"
    assert [c["name"] for c in dataset.profile["columns"]] == dataset.column_names


def test_it_runs_a_job_delivered_twice_only_once(uploaded, run_jobs):
    _dataset, job = uploaded
    run_jobs()
    finished = Job.objects.get(pk=job.pk).finished_at
    assert run_job(str(job.pk)) == "skipped"
    assert Job.objects.get(pk=job.pk).finished_at == finished


def test_it_never_starts_a_job_whose_transaction_rolled_back(uploaded, owner):
    # A service stores its files before its transaction (never inside one), so
    # the rolled-back transaction here creates the job only.
    dataset, _job = uploaded
    django_rq.get_queue("default").empty()

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        project_analyze_latest(project=dataset.project, dataset=dataset, user=owner)
        raise Boom
    assert django_rq.get_queue("default").count == 0
    assert not Job.objects.filter(kind="analyze").exists()


def test_it_refuses_to_store_a_file_inside_a_transaction(project, owner, tmp_path):
    with (
        pytest.raises(RuntimeError, match="outside database transactions"),
        transaction.atomic(),
    ):
        dataset_upload(
            project=project,
            user=owner,
            path=write_csv(tmp_path / "c.csv"),
            filename="c.csv",
        )
    assert not Dataset.objects.exists() and not Job.objects.exists()


def test_it_records_a_failure_with_its_reason_and_removes_the_upload(
    uploaded, run_jobs
):
    dataset, job = uploaded
    default_storage.delete(job.params["raw"])  # the raw upload vanished
    run_jobs()
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == (
        "The uploaded file is no longer stored (a failed upload is removed); "
        "upload it again."
    )
    assert "Traceback" not in job.error
    assert not Dataset.objects.filter(pk=dataset.pk).exists()

    # A retry cannot bring the file back; it ends with the same clear reason.
    again = job_retry(job=job, user=None)
    assert again.retry_of_id == job.pk
    run_jobs()
    again.refresh_from_db()
    assert (again.status, again.error) == ("failed", job.error)


def test_it_cancels_a_queued_job_before_it_runs(uploaded, run_jobs):
    dataset, job = uploaded
    job_cancel(job=job, user=None)
    run_jobs()
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not default_storage.exists(job.params["raw"])


def test_it_stops_a_running_job_that_was_asked_to_cancel(uploaded):
    _dataset, job = uploaded
    # The user pressed cancel while the job ran: the worker sees it at its next step.
    Job.objects.filter(pk=job.pk).update(status="queued", cancel_requested=True)
    assert run_job(str(job.pk)) == "cancelled"


def test_it_fails_running_jobs_whose_heartbeat_stopped(uploaded, settings):
    _dataset, job = uploaded
    old = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=old)
    assert jobs_reconcile() == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("Worker lost")
    assert not Dataset.objects.filter(pk=job.subject_id).exists()


def test_it_leaves_live_jobs_alone(uploaded):
    _dataset, job = uploaded
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    assert jobs_reconcile() == []


def test_it_fails_queued_jobs_that_redis_forgot(uploaded, redis_conn, settings):
    _dataset, job = uploaded
    redis_conn.flushdb()  # Redis restarted empty
    old = timezone.now() - timedelta(seconds=settings.JOB_QUEUED_LOST_SECONDS + 5)
    Job.objects.filter(pk=job.pk).update(created_at=old)
    assert jobs_reconcile() == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("Queue lost")
