"""Step 2, choosing the target column."""

from __future__ import annotations

import pytest
from django.utils.html import escape

from projects.models import Job

pytestmark = pytest.mark.django_db


def _url(project):
    return f"/projects/{project.slug}/steps/data/"


def _choose(client, project, column):
    return client.post(_url(project), {"action": "target", "target_column": column})


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_saves_the_target_and_starts_an_analysis_for(
    client_for, project, member, owner, role, ready_dataset
):
    user = owner if role == "owner" else member(role)
    response = _choose(client_for(user), project, "churn")
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.target_column == "churn"
    job = Job.objects.get(kind="analyze")
    assert (job.subject_id, job.status, job.created_by) == (
        ready_dataset.pk,
        "queued",
        user,
    )


def test_it_confirms_the_target_on_the_next_page(
    client_for, owner, project, ready_dataset
):
    response = client_for(owner).post(
        _url(project), {"action": "target", "target_column": "churn"}, follow=True
    )
    assert escape("Target set to 'churn'; analysing it now.") in response.text
    assert "target: churn" in response.text


def test_it_refuses_a_column_that_is_not_in_the_data(
    client_for, owner, project, ready_dataset
):
    response = _choose(client_for(owner), project, "revenue")
    assert response.status_code == 400
    assert "revenue is not one of the available choices." in response.text
    project.refresh_from_db()
    assert project.target_column == ""
    assert not Job.objects.filter(kind="analyze").exists()


def test_it_refuses_a_target_before_the_profile_is_ready(
    client_for, owner, project, churn_csv
):
    from projects.services.datasets import dataset_upload

    dataset_upload(project=project, user=owner, path=churn_csv, filename="c.csv")
    response = _choose(client_for(owner), project, "churn")
    assert response.status_code == 400
    project.refresh_from_db()
    assert project.target_column == ""


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_a_target_from(client_for, project, member, role, ready_dataset):
    response = _choose(client_for(member(role)), project, "churn")
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.target_column == ""


def test_it_returns_404_to_an_outsider(client_for, outsider, project, ready_dataset):
    assert _choose(client_for(outsider), project, "churn").status_code == 404
    project.refresh_from_db()
    assert project.target_column == ""


def test_it_answers_503_when_the_queue_is_unavailable(
    client_for, owner, project, ready_dataset, queue_down
):
    response = _choose(client_for(owner), project, "churn")
    assert response.status_code == 503
    assert "The job queue is unavailable right now" in response.text
    project.refresh_from_db()
    assert project.target_column == ""
    assert not Job.objects.filter(kind="analyze").exists()


def test_it_shows_the_target_analysis_once_it_ran(
    client_for, owner, project, ready_dataset, profile_jobs
):
    client = client_for(owner)
    with profile_jobs():
        _choose(client, project, "churn")
    assert Job.objects.get(kind="analyze").status == "succeeded"
    response = client.get(_url(project))
    assert "Distribution of churn" in response.text
    assert "Association with the target" in response.text
    assert "Analysing the target…" not in response.text
