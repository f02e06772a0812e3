"""Step 2, uploading a data set through the page."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from projects.models import AuditEvent, Dataset, Job
from tests.views.support import (
    BAD_UPLOADS,
    REFUSED_AT_UPLOAD,
    leftover_files,
    pickle_bytes,
    stored_files,
    stored_suffixes,
)

pytestmark = pytest.mark.django_db


def _url(project):
    return f"/projects/{project.slug}/steps/data/"


def _post(client, project, name, content):
    return client.post(
        _url(project), {"action": "upload", "file": SimpleUploadedFile(name, content)}
    )


def _assert_nothing_stored(settings, upload_tmp):
    assert not Dataset.objects.exists()
    assert not Job.objects.exists()
    assert stored_files(settings) == []
    assert leftover_files(upload_tmp) == []


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_stores_the_file_and_leaves_reading_it_to_a_job_for(
    client_for,
    project,
    member,
    owner,
    role,
    churn_csv,
    upload_tmp,
    settings,
    run_jobs,
    django_capture_on_commit_callbacks,
):
    user = owner if role == "owner" else member(role)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client_for(user), project, "churn.csv", churn_csv.read_bytes())
    assert response.status_code == 302
    assert response["Location"] == _url(project)
    # The request parsed nothing: the raw bytes are stored, the version waits.
    dataset = Dataset.objects.get()
    assert (dataset.version, dataset.status, dataset.n_rows) == (1, "ingesting", 0)
    assert stored_suffixes(settings) == [".upload"]
    job = Job.objects.get()
    assert (job.kind, job.status, job.subject_id) == ("ingest", "queued", dataset.pk)
    assert leftover_files(upload_tmp) == []
    assert not AuditEvent.objects.filter(verb="dataset.uploaded").exists()

    run_jobs()

    dataset.refresh_from_db()
    assert (dataset.status, dataset.n_rows, dataset.n_columns) == ("ready", 200, 5)
    assert dataset.profile["n_rows"] == 200
    stored = stored_files(settings)
    assert [p.suffix for p in stored] == [".parquet"]  # the raw file is gone
    assert dataset.sha256 == hashlib.sha256(stored[0].read_bytes()).hexdigest()
    assert dataset.original_name == "churn.csv"
    assert dataset.created_by == user
    assert AuditEvent.objects.filter(verb="dataset.uploaded", actor=user).exists()


def test_it_shows_the_ingest_job_on_the_next_page(
    client_for, owner, project, churn_csv
):
    client = client_for(owner)
    response = client.post(
        _url(project),
        {
            "action": "upload",
            "file": SimpleUploadedFile("c.csv", churn_csv.read_bytes()),
        },
        follow=True,
    )
    assert (
        "Received c.csv as version 1. It is being read, checked and profiled; it "
        "can be used when that ends." in response.text
    )
    assert "Reading, checking and profiling the upload" in response.text
    assert "<progress" in response.text
    assert "Ingesting" in response.text  # the version's badge


def test_it_numbers_a_second_upload_as_version_2(
    client_for, owner, project, churn_csv, profile_jobs
):
    client = client_for(owner)
    with profile_jobs():
        _post(client, project, "a.csv", churn_csv.read_bytes())
        _post(
            client, project, "b.csv", churn_csv.read_bytes() + b"30,1.5,Nice,male,no\n"
        )
    assert list(Dataset.objects.values_list("version", "n_rows", "status")) == [
        (2, 201, "ready"),
        (1, 200, "ready"),
    ]


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_an_upload_from(client_for, project, member, role, churn_csv):
    response = _post(client_for(member(role)), project, "c.csv", churn_csv.read_bytes())
    assert response.status_code == 403
    assert "Only scientists and the owner can change the data." in response.text
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_offers_no_upload_form_to(client_for, project, member, role):
    response = client_for(member(role)).get(_url(project))
    assert response.status_code == 200
    assert 'type="file"' not in response.text
    assert "A scientist or the owner of this project uploads it here." in response.text


def test_it_returns_404_to_an_outsider(client_for, outsider, project, churn_csv):
    client = client_for(outsider)
    assert client.get(_url(project)).status_code == 404
    assert _post(client, project, "c.csv", churn_csv.read_bytes()).status_code == 404
    assert not Dataset.objects.exists()


def test_it_redirects_anonymous_to_login(client, project, churn_csv):
    response = _post(client, project, "c.csv", churn_csv.read_bytes())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Dataset.objects.exists()


def test_it_refuses_an_empty_file(client_for, owner, project, upload_tmp, settings):
    response = _post(client_for(owner), project, "empty.csv", b"")
    assert response.status_code == 400
    assert "The submitted file is empty." in response.text
    _assert_nothing_stored(settings, upload_tmp)


def test_it_asks_for_a_file_when_none_is_sent(client_for, owner, project):
    response = client_for(owner).post(_url(project), {"action": "upload"})
    assert response.status_code == 400
    assert "This field is required." in response.text
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("case", sorted(REFUSED_AT_UPLOAD))
def test_it_refuses_a_file_type_inline(
    client_for, owner, project, case, upload_tmp, settings
):
    name, content, message = BAD_UPLOADS[case]
    response = _post(client_for(owner), project, name, content)
    assert response.status_code == 400
    assert escape(message) in response.text
    assert 'class="error" role="alert"' in response.text
    _assert_nothing_stored(settings, upload_tmp)


@pytest.mark.parametrize("case", sorted(set(BAD_UPLOADS) - REFUSED_AT_UPLOAD))
def test_it_explains_a_bad_file_when_its_job_fails(
    client_for, owner, project, case, upload_tmp, settings, profile_jobs
):
    name, content, message = BAD_UPLOADS[case]
    client = client_for(owner)
    with profile_jobs():
        response = _post(client, project, name, content)
    assert response.status_code == 302

    job = Job.objects.get()
    assert (job.kind, job.status) == ("ingest", "failed")
    assert message in job.error
    # Nothing half-written: no version to pick, no stored file, no temp file.
    assert not Dataset.objects.exists()
    assert stored_files(settings) == []
    assert leftover_files(upload_tmp) == []
    page = client.get(_url(project))
    upload_card = page.text.split('id="upload"', 1)[1].split("</section>", 1)[0]
    assert escape(message) in upload_card
    assert "Nothing was stored. Correct the file and upload it again." in upload_card
    assert ">Retry<" not in upload_card  # the file is gone; retrying cannot help


def test_it_never_unpickles_a_pickle_named_csv(
    client_for, owner, project, tmp_path, upload_tmp, settings, profile_jobs
):
    canary = tmp_path / "canary"
    with profile_jobs():
        _post(client_for(owner), project, "data.csv", pickle_bytes(canary))
    job = Job.objects.get()
    assert job.status == "failed"
    assert "This is a Python pickle/joblib file." in job.error
    assert not canary.exists()
    assert not Dataset.objects.exists()
    assert stored_files(settings) == []


def test_it_answers_413_for_a_file_just_over_the_limit(
    client_for, owner, project, settings, upload_tmp
):
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    content = b"a,b\n" + b"1,2\n" * (settings.UPLOAD_MAX_BYTES // 4 + 100)
    response = _post(client_for(owner), project, "big.csv", content)
    assert response.status_code == 413
    assert "The file is larger than the upload limit of 1 MB." in response.text
    assert "Step 2: Data collection" in response.text  # inline, on the data page
    _assert_nothing_stored(settings, upload_tmp)


def test_it_answers_413_for_a_file_far_over_the_limit(
    client_for, owner, project, settings, upload_tmp
):
    settings.UPLOAD_MAX_BYTES = 256 * 1024
    content = b"a,b\n" + b"1,2\n" * 200_000
    response = _post(client_for(owner), project, "big.csv", content)
    assert response.status_code == 413
    assert "The file is larger than the upload limit of 0.25 MB." in response.text
    _assert_nothing_stored(settings, upload_tmp)


def test_it_answers_503_when_the_queue_is_unavailable(
    client_for, owner, project, churn_csv, queue_down, upload_tmp, settings
):
    started = time.monotonic()
    response = _post(client_for(owner), project, "churn.csv", churn_csv.read_bytes())
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert "The job queue is unavailable right now, so nothing was started." in (
        response.text
    )
    _assert_nothing_stored(settings, upload_tmp)


def test_it_sees_the_queue_as_down(queue_down):
    from projects.services.jobs import queue_available

    assert queue_available() is False


def test_it_keeps_showing_the_data_page_when_the_queue_is_down(
    client_for, project, member, ready_dataset, queue_down
):
    response = client_for(member("viewer")).get(_url(project))
    assert response.status_code == 200
    assert "Profile of version 1" in response.text


def _chunked_post(client, project, name, content):
    """A multipart upload as gunicorn hands on a chunked one: no Content-Length."""
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    body = encode_multipart(
        BOUNDARY, {"action": "upload", "file": SimpleUploadedFile(name, content)}
    )
    return client.generic(
        "POST",
        _url(project),
        body,
        content_type=MULTIPART_CONTENT,
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        # As gunicorn's de-chunked input: reads end with b"" at the end of the body.
        **{"wsgi.input_terminated": True, "wsgi.input": io.BytesIO(body)},
    )


def test_it_accepts_a_chunked_upload_within_the_limit(
    client_for, owner, project, churn_csv, upload_tmp, profile_jobs
):
    with profile_jobs():
        response = _chunked_post(
            client_for(owner), project, "churn.csv", churn_csv.read_bytes()
        )
    assert response.status_code == 302
    dataset = Dataset.objects.get()
    assert (dataset.status, dataset.n_rows) == ("ready", 200)
    assert leftover_files(upload_tmp) == []


def test_it_answers_413_for_a_chunked_upload_over_the_limit(
    client_for, owner, project, settings, upload_tmp
):
    settings.UPLOAD_MAX_BYTES = 256 * 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # the spooled body goes to disk
    content = b"a,b\n" + b"1,2\n" * 200_000
    response = _chunked_post(client_for(owner), project, "big.csv", content)
    assert response.status_code == 413
    assert "The file is larger than the upload limit of 0.25 MB." in response.text
    assert "Step 2: Data collection" in response.text  # inline, on the data page
    _assert_nothing_stored(settings, upload_tmp)
