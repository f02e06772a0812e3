"""The job-status fragment pages poll, and the cancel / retry buttons."""

from __future__ import annotations

import pytest
from django.utils import timezone

from projects.models import Dataset, Job

pytestmark = pytest.mark.django_db

MEMBERS = ["viewer", "scientist", "approver"]


@pytest.fixture
def job(project, owner):
    return Job.objects.create(
        kind="profile",
        project=project,
        subject_type="dataset",
        subject_id=1,
        created_by=owner,
        progress=40,
        message="Profiling column 3 of 5",
    )


@pytest.fixture
def failed_job(job):
    Job.objects.filter(pk=job.pk).update(
        status="failed",
        error="Could not read the stored data.",
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def _as(client_for, role, owner, member):
    return client_for(owner if role == "owner" else member(role))


@pytest.mark.parametrize("role", [*MEMBERS, "owner"])
def test_it_shows_the_status_to(client_for, owner, member, role, job):
    response = _as(client_for, role, owner, member).get(f"/jobs/{job.id}/status/")
    assert response.status_code == 200
    assert "Profiling the data" in response.text
    assert "40% · Profiling column 3 of 5" in response.text
    assert 'hx-trigger="every 1s"' in response.text


def test_it_shows_the_error_and_a_retry_button_for_a_failed_job(
    client_for, owner, failed_job
):
    response = client_for(owner).get(f"/jobs/{failed_job.id}/status/")
    assert "Could not read the stored data." in response.text
    assert f'action="/jobs/{failed_job.id}/retry/"' in response.text
    assert "hx-trigger" not in response.text  # polling stops


def test_it_tells_a_polling_page_to_reload_when_the_job_ended(
    client_for, owner, failed_job
):
    response = client_for(owner).get(
        f"/jobs/{failed_job.id}/status/?poll=1", HTTP_HX_REQUEST="true"
    )
    assert response["HX-Refresh"] == "true"


def test_it_keeps_a_polling_page_as_it_is_while_the_job_runs(client_for, owner, job):
    response = client_for(owner).get(
        f"/jobs/{job.id}/status/?poll=1", HTTP_HX_REQUEST="true"
    )
    assert "HX-Refresh" not in response


def test_it_returns_404_for_the_status_to_an_outsider(client_for, outsider, job):
    assert client_for(outsider).get(f"/jobs/{job.id}/status/").status_code == 404


def test_it_returns_404_for_a_job_that_does_not_exist(client_for, owner):
    response = client_for(owner).get(
        "/jobs/00000000-0000-0000-0000-000000000000/status/"
    )
    assert response.status_code == 404


def test_it_redirects_anonymous_to_login_for_the_status(client, job):
    response = client.get(f"/jobs/{job.id}/status/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_cancels_a_queued_job_for(client_for, owner, member, role, job, project):
    client = _as(client_for, role, owner, member)
    response = client.post(f"/jobs/{job.id}/cancel/")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/"
    job.refresh_from_db()
    assert (job.status, job.message) == ("cancelled", "Cancelled by the user")


def test_it_asks_a_running_job_to_stop(client_for, owner, job):
    Job.objects.filter(pk=job.pk).update(status="running")
    client_for(owner).post(f"/jobs/{job.id}/cancel/")
    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == ("running", True)
    assert job.message == "Cancelling…"


def test_it_removes_the_upload_when_its_ingest_is_cancelled(
    client_for, owner, project, churn_csv, settings, django_capture_on_commit_callbacks
):
    from projects.services.datasets import dataset_upload
    from tests.views.support import stored_files

    dataset, job = dataset_upload(
        project=project, user=owner, path=churn_csv, filename="c.csv"
    )
    assert len(stored_files(settings)) == 1  # the raw upload
    with django_capture_on_commit_callbacks(execute=True):
        client_for(owner).post(f"/jobs/{job.id}/cancel/")
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert stored_files(settings) == []


def test_it_returns_to_the_page_it_came_from(client_for, owner, job, project):
    back = f"/projects/{project.slug}/steps/data/?version=1"
    response = client_for(owner).post(f"/jobs/{job.id}/cancel/", {"next": back})
    assert response["Location"] == back


def test_it_never_returns_to_another_site(client_for, owner, job, project):
    response = client_for(owner).post(
        f"/jobs/{job.id}/cancel/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/projects/{project.slug}/"


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_a_cancel_from(client_for, member, role, job):
    response = client_for(member(role)).post(f"/jobs/{job.id}/cancel/")
    assert response.status_code == 403
    assert "Only scientists and the owner of this project can do this." in (
        response.text
    )
    job.refresh_from_db()
    assert job.status == "queued" and not job.cancel_requested


def test_it_returns_404_for_a_cancel_to_an_outsider(client_for, outsider, job):
    assert client_for(outsider).post(f"/jobs/{job.id}/cancel/").status_code == 404
    job.refresh_from_db()
    assert job.status == "queued"


def test_it_redirects_anonymous_to_login_for_a_cancel(client, job):
    assert client.post(f"/jobs/{job.id}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.status == "queued"


def test_it_only_cancels_with_a_post(client_for, owner, job):
    assert client_for(owner).get(f"/jobs/{job.id}/cancel/").status_code == 405


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_retries_a_failed_job_as_a_new_job_for(
    client_for, owner, member, role, failed_job
):
    user = owner if role == "owner" else member(role)
    response = client_for(user).post(f"/jobs/{failed_job.id}/retry/", follow=True)
    assert "Started again." in response.text
    new = Job.objects.exclude(pk=failed_job.pk).get()
    assert (new.kind, new.subject_id, new.status) == ("profile", 1, "queued")
    assert (new.retry_of, new.created_by) == (failed_job, user)
    failed_job.refresh_from_db()
    assert failed_job.status == "failed"


def test_it_does_not_retry_a_job_that_is_still_running(client_for, owner, job):
    response = client_for(owner).post(f"/jobs/{job.id}/retry/", follow=True)
    assert (
        "Only a failed or cancelled job can be retried; this one is still queued."
        in response.text
    )
    assert Job.objects.count() == 1


def test_it_says_so_when_the_queue_is_down_on_retry(
    client_for, owner, failed_job, queue_down
):
    response = client_for(owner).post(f"/jobs/{failed_job.id}/retry/", follow=True)
    assert "The job queue is unavailable right now" in response.text
    assert Job.objects.count() == 1


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_a_retry_from(client_for, member, role, failed_job):
    response = client_for(member(role)).post(f"/jobs/{failed_job.id}/retry/")
    assert response.status_code == 403
    assert Job.objects.count() == 1


def test_it_returns_404_for_a_retry_to_an_outsider(client_for, outsider, failed_job):
    assert client_for(outsider).post(f"/jobs/{failed_job.id}/retry/").status_code == 404
    assert Job.objects.count() == 1


def test_it_redirects_anonymous_to_login_for_a_retry(client, failed_job):
    assert client.post(f"/jobs/{failed_job.id}/retry/").status_code == 302
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_runs_the_retried_job_to_the_end(
    client_for, owner, project, ready_dataset, run_jobs, settings
):
    """An analysis that failed (its worker died) is retried and this time succeeds."""
    from projects.services.jobs import job_create, job_fail

    settings.JOB_HEARTBEAT_SECONDS = 60
    job = job_create(
        kind="analyze",
        project=project,
        subject_type="dataset",
        subject_id=ready_dataset.pk,
        user=owner,
    )
    job_fail(job_id=job.id, reason="Worker lost")
    run_jobs()  # the old entry is claimed by nobody: it is no longer queued

    client_for(owner).post(f"/jobs/{job.id}/retry/")
    run_jobs()

    new = Job.objects.get(retry_of=job)
    assert new.status == "succeeded"
