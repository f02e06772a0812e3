"""POST /api/projects/{id}/datasets: upload a new data set version."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Dataset, Job
from tests.views.support import (
    BAD_UPLOADS,
    REFUSED_AT_UPLOAD,
    leftover_files,
    pickle_bytes,
    stored_files,
)

pytestmark = pytest.mark.django_db


def _upload(client, project, name, content):
    return client.post(
        f"/api/projects/{project.pk}/datasets",
        {"file": SimpleUploadedFile(name, content)},
    )


def _assert_nothing_stored(settings, upload_tmp):
    assert not Dataset.objects.exists()
    assert not Job.objects.exists()
    assert stored_files(settings) == []
    assert leftover_files(upload_tmp) == []


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_answers_202_with_the_ingest_job_for(
    api_as,
    project,
    role,
    churn_csv,
    settings,
    run_jobs,
    django_capture_on_commit_callbacks,
):
    client = api_as(role)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, project, "churn.csv", churn_csv.read_bytes())
    assert response.status_code == 202
    body = response.json()
    dataset = Dataset.objects.get()
    job = Job.objects.get()
    assert body == {
        "id": dataset.pk,
        "version": 1,
        "job": {"id": str(job.id), "status": "queued"},
    }
    assert job.kind == "ingest" and job.subject_id == dataset.pk
    before = client.get(f"/api/datasets/{dataset.pk}").json()
    assert (before["status"], before["n_rows"], before["profile"]) == (
        "ingesting",
        0,
        None,
    )

    run_jobs()

    assert client.get(f"/api/jobs/{job.id}").json()["status"] == "succeeded"
    after = client.get(f"/api/datasets/{dataset.pk}").json()
    assert (after["status"], after["n_rows"], after["n_columns"]) == ("ready", 200, 5)
    assert after["profile"]["n_rows"] == 200
    [stored] = stored_files(settings)
    assert after["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_an_upload_from(
    api_as, project, role, churn_csv, upload_tmp, settings
):
    response = _upload(api_as(role), project, "churn.csv", churn_csv.read_bytes())
    assert response.status_code == 403
    _assert_nothing_stored(settings, upload_tmp)


def test_it_returns_404_to_an_outsider(api_for, outsider, project, churn_csv):
    response = _upload(api_for(outsider), project, "churn.csv", churn_csv.read_bytes())
    assert response.status_code == 404
    assert not Dataset.objects.exists()


def test_it_returns_401_to_anonymous(client, project, churn_csv):
    response = _upload(client, project, "churn.csv", churn_csv.read_bytes())
    assert response.status_code == 401
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("case", sorted(REFUSED_AT_UPLOAD))
def test_it_refuses_a_file_type_at_once(api_as, project, case, upload_tmp, settings):
    name, content, message = BAD_UPLOADS[case]
    response = _upload(api_as("owner"), project, name, content)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "file"
    assert message in body["message"]
    _assert_nothing_stored(settings, upload_tmp)


@pytest.mark.parametrize("case", sorted(set(BAD_UPLOADS) - REFUSED_AT_UPLOAD))
def test_it_explains_a_bad_file_in_the_failed_job(
    api_as, project, case, upload_tmp, settings, profile_jobs
):
    name, content, message = BAD_UPLOADS[case]
    client = api_as("owner")
    with profile_jobs():
        response = _upload(client, project, name, content)
    assert response.status_code == 202
    body = response.json()
    job = client.get(f"/api/jobs/{body['job']['id']}").json()
    assert job["status"] == "failed"
    assert message in job["error"]
    # The version is gone with its files: nothing half-written to pick.
    assert client.get(f"/api/datasets/{body['id']}").status_code == 404
    assert client.get(f"/api/projects/{project.pk}/datasets").json() == []
    assert stored_files(settings) == []
    assert leftover_files(upload_tmp) == []


def test_it_refuses_an_empty_file(api_as, project, upload_tmp, settings):
    response = _upload(api_as("owner"), project, "empty.csv", b"")
    assert response.status_code == 400
    assert response.json() == {
        "message": "The file is empty.",
        "field": "file",
        "errors": {"file": ["The file is empty."]},
    }
    _assert_nothing_stored(settings, upload_tmp)


def test_it_names_the_file_field_when_no_file_is_sent(api_as, project):
    response = api_as("owner").post(f"/api/projects/{project.pk}/datasets", {})
    assert response.status_code == 422
    assert response.json()["field"] == "file"
    assert not Dataset.objects.exists()


def test_it_never_unpickles_a_pickle_named_csv(
    api_as, project, tmp_path, upload_tmp, settings, profile_jobs
):
    canary = tmp_path / "canary"
    client = api_as("owner")
    with profile_jobs():
        response = _upload(client, project, "data.csv", pickle_bytes(canary))
    job = client.get(f"/api/jobs/{response.json()['job']['id']}").json()
    assert job["status"] == "failed"
    assert "pickle" in job["error"]
    assert not canary.exists()
    assert not Dataset.objects.exists()
    assert stored_files(settings) == []


@pytest.mark.parametrize("size", ["just-over", "far-over"])
def test_it_answers_413_over_the_upload_limit(
    api_as, project, settings, upload_tmp, size
):
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    rows = settings.UPLOAD_MAX_BYTES // 4 + (100 if size == "just-over" else 200_000)
    response = _upload(api_as("owner"), project, "big.csv", b"a,b\n" + b"1,2\n" * rows)
    assert response.status_code == 413
    assert response.json() == {
        "message": "The file is larger than the upload limit of 1 MB.",
        "field": "file",
    }
    _assert_nothing_stored(settings, upload_tmp)


def test_it_answers_503_when_the_queue_is_unavailable(
    api_as, project, churn_csv, queue_down, upload_tmp, settings
):
    response = _upload(api_as("owner"), project, "churn.csv", churn_csv.read_bytes())
    assert response.status_code == 503
    assert response.json()["message"].startswith(
        "The job queue is unavailable right now, so nothing was started."
    )
    _assert_nothing_stored(settings, upload_tmp)
