"""A real `manage.py rqworker` process: it runs jobs, and dying mid-job is noticed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from projects.models import Dataset, Job
from projects.services.datasets import dataset_upload
from projects.services.jobs import job_retry
from tests.conftest import BASE_DIR
from tests.helpers import write_big_parquet_csv, write_csv

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_for(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def status_of(job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def test_it_profiles_with_a_separate_worker_process(
    project, owner, tmp_path, start_worker
):
    dataset, job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv"),
        filename="c.csv",
    )
    start_worker()
    wait_for(lambda: status_of(job) == "succeeded", timeout=60, interval=0.2)
    assert Dataset.objects.get(pk=dataset.pk).status == "ready"


def test_it_marks_a_job_failed_when_its_worker_is_killed(
    project, owner, tmp_path, start_worker, worker_env
):
    path = write_big_parquet_csv(tmp_path / "big.csv", rows=1_500_000)
    dataset, job = dataset_upload(
        project=project, user=owner, path=path, filename="big.csv"
    )
    worker = start_worker()
    wait_for(lambda: status_of(job) == "running", timeout=60, interval=0.02)
    # Kill the whole worker (the main process and the work horse it forked).
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
        wait_for(lambda: status_of(job) == "failed", timeout=90, interval=0.2)
    finally:
        reconciler.kill()
        reconciler.wait(timeout=10)
    assert time.monotonic() - killed_at < 90
    job.refresh_from_db()
    assert job.error.startswith("Worker lost")
    # The lost ingest leaves no version and no file behind.
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    media = Path(worker_env["MEDIA_ROOT"]) / "datasets"
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))

    # Retrying cannot bring the file back: the new attempt says so and ends.
    again = job_retry(job=job, user=owner)
    start_worker()
    wait_for(lambda: status_of(again) == "failed", timeout=120, interval=0.2)
    again.refresh_from_db()
    assert again.error == (
        "The uploaded file is no longer stored (a failed upload is removed); "
        "upload it again."
    )
