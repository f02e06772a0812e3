"""/api/jobs/{id}: status, cancel and retry."""

from __future__ import annotations

import pytest
from django.utils import timezone

from projects.models import Job

pytestmark = pytest.mark.django_db

MEMBERS = ["viewer", "scientist", "approver", "owner"]


@pytest.fixture
def job(project, owner):
    return Job.objects.create(
        kind="profile",
        project=project,
        subject_type="dataset",
        subject_id=1,
        created_by=owner,
        progress=30,
        message="Profiling",
    )


@pytest.fixture
def failed_job(job):
    Job.objects.filter(pk=job.pk).update(
        status="failed", error="Worker lost.", finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("role", MEMBERS)
def test_it_shows_a_job_to(api_as, role, job):
    response = api_as(role).get(f"/api/jobs/{job.id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["kind"], body["status"]) == (
        str(job.id),
        "profile",
        "queued",
    )
    assert (body["progress"], body["message"]) == (30, "Profiling")


def test_it_returns_404_for_a_job_to_an_outsider(api_for, outsider, job):
    assert api_for(outsider).get(f"/api/jobs/{job.id}").status_code == 404


def test_it_does_not_reveal_that_a_hidden_job_exists(api_for, outsider, job):
    client = api_for(outsider)
    hidden = client.get(f"/api/jobs/{job.id}")
    missing = client.get("/api/jobs/00000000-0000-0000-0000-000000000000")
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())


def test_it_returns_401_for_a_job_to_anonymous(client, job):
    assert client.get(f"/api/jobs/{job.id}").status_code == 401


def test_it_returns_404_for_a_job_that_does_not_exist(api_as):
    response = api_as("owner").get("/api/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_cancels_a_queued_job_for(api_as, role, job):
    response = api_as(role).post(f"/api/jobs/{job.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_it_asks_a_running_job_to_stop(api_as, job):
    Job.objects.filter(pk=job.pk).update(status="running")
    response = api_as("owner").post(f"/api/jobs/{job.id}/cancel")
    assert response.json()["status"] == "running"
    assert response.json()["message"] == "Cancelling…"
    job.refresh_from_db()
    assert job.cancel_requested


def test_it_leaves_a_finished_job_as_it_is_on_cancel(api_as, failed_job):
    response = api_as("owner").post(f"/api/jobs/{failed_job.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "failed"


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_a_cancel_from(api_as, role, job):
    response = api_as(role).post(f"/api/jobs/{job.id}/cancel")
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == "queued" and not job.cancel_requested


def test_it_returns_404_for_a_cancel_to_an_outsider(api_for, outsider, job):
    assert api_for(outsider).post(f"/api/jobs/{job.id}/cancel").status_code == 404
    job.refresh_from_db()
    assert job.status == "queued"


def test_it_returns_401_for_a_cancel_to_anonymous(client, job):
    assert client.post(f"/api/jobs/{job.id}/cancel").status_code == 401
    job.refresh_from_db()
    assert job.status == "queued"


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_retries_a_failed_job_as_a_new_job_for(api_as, role, failed_job):
    response = api_as(role).post(f"/api/jobs/{failed_job.id}/retry")
    assert response.status_code == 202
    body = response.json()
    assert body["id"] != str(failed_job.id)
    assert (body["kind"], body["status"]) == ("profile", "queued")
    new = Job.objects.get(pk=body["id"])
    assert new.retry_of == failed_job


def test_it_refuses_to_retry_an_active_job(api_as, job):
    response = api_as("owner").post(f"/api/jobs/{job.id}/retry")
    assert response.status_code == 409
    assert response.json()["message"] == "The job is still active."
    assert Job.objects.count() == 1


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_a_retry_from(api_as, role, failed_job):
    assert api_as(role).post(f"/api/jobs/{failed_job.id}/retry").status_code == 403
    assert Job.objects.count() == 1


def test_it_returns_404_for_a_retry_to_an_outsider(api_for, outsider, failed_job):
    response = api_for(outsider).post(f"/api/jobs/{failed_job.id}/retry")
    assert response.status_code == 404
    assert Job.objects.count() == 1


def test_it_returns_401_for_a_retry_to_anonymous(client, failed_job):
    assert client.post(f"/api/jobs/{failed_job.id}/retry").status_code == 401
    assert Job.objects.count() == 1


def test_it_answers_503_for_a_retry_when_the_queue_is_unavailable(
    api_as, failed_job, queue_down
):
    response = api_as("owner").post(f"/api/jobs/{failed_job.id}/retry")
    assert response.status_code == 503
    assert "queue is unavailable" in response.json()["message"]
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_runs_an_uploaded_profile_to_the_end(
    api_as, project, churn_csv, run_jobs, settings
):
    settings.JOB_HEARTBEAT_SECONDS = 60
    client = api_as("scientist")
    created = client.post(
        f"/api/projects/{project.pk}/datasets",
        {"file": churn_csv.open("rb")},
    ).json()
    run_jobs()
    job = client.get(f"/api/jobs/{created['job']['id']}").json()
    assert (job["status"], job["progress"]) == ("succeeded", 100)
    assert job["finished_at"] is not None
    dataset = client.get(f"/api/datasets/{created['id']}").json()
    assert dataset["status"] == "ready"
