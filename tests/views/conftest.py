"""Fixtures for page tests: uploads, a profiled data set, a queue that is down."""

from __future__ import annotations

import pytest

from projects.services.datasets import dataset_upload
from tests.helpers import write_csv
from tests.views.support import CLOSED_REDIS


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The factories set a password on every user; PBKDF2 would cost ~0.3 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def queue_down(settings):
    """Redis unreachable for the rest of the test.

    django-rq 4.2 caches no connection: every ``get_connection`` / ``get_queue``
    reads RQ_QUEUES again and builds a new client, so overriding the setting is
    enough (test_it_sees_the_queue_as_down checks that assumption).
    """
    settings.RQ_QUEUES = {
        name: {"URL": CLOSED_REDIS, "DEFAULT_TIMEOUT": 60}
        for name in ("default", "training")
    }


@pytest.fixture
def upload_tmp(settings, tmp_path):
    """Django's temporary upload files go here, so a test can see they are gone."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture
def churn_csv(tmp_path):
    return write_csv(tmp_path / "churn.csv")


@pytest.fixture
def profile_jobs(run_jobs, settings, django_capture_on_commit_callbacks):
    """Run what a block enqueues: ``with profile_jobs(): ...`` then the jobs run."""
    from contextlib import contextmanager

    settings.JOB_HEARTBEAT_SECONDS = 60  # no second thread writing during a job

    @contextmanager
    def capture():
        with django_capture_on_commit_callbacks(execute=True):
            yield
        # Run until quiet: a job may start another (training starts its
        # analysis), whose enqueue waits for a commit the test never makes.
        for _round in range(5):
            with django_capture_on_commit_callbacks(execute=True) as started:
                run_jobs()
            if not started:
                break

    return capture


@pytest.fixture
def ready_dataset(project, owner, churn_csv, profile_jobs):
    """Version 1 of the project's data, uploaded and profiled by a real job."""
    with profile_jobs():
        dataset, _job = dataset_upload(
            project=project, user=owner, path=churn_csv, filename="churn.csv"
        )
    dataset.refresh_from_db()
    assert dataset.status == "ready", dataset.status
    return dataset


@pytest.fixture
def prepared_dataset(project, owner, ready_dataset, profile_jobs):
    """Version 2: version 1 prepared by a real job (no cleaning, 60/20/20 split),
    with ``churn`` as the project's target."""
    from projects.services.preparation import dataset_prepare

    project.target_column = "churn"
    project.sensitive_columns = ["sex"]
    project.save()
    with profile_jobs():
        prepared, _job = dataset_prepare(
            dataset=ready_dataset,
            user=owner,
            recipe={"steps": []},
            split={"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1},
        )
    prepared.refresh_from_db()
    assert prepared.status == "ready", prepared.error
    return prepared
