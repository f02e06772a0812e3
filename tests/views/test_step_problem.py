from __future__ import annotations

import pytest
from django.utils.html import escape

from projects.models import AuditEvent, Job, Project

pytestmark = pytest.mark.django_db

PROBLEM = {
    "action": "problem",
    "name": "Churn, revised",
    "task_type": "classification",
    "business_goal": "Keep customers.",
    "primary_metric": "recall",
    "success_threshold": "0.6",
    "latency_budget_ms": "50",
    "description": "",
}


def _url(project):
    return f"/projects/{project.slug}/steps/problem/"


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_shows_the_contract_read_only_to(client_for, project, member, role):
    response = client_for(member(role)).get(_url(project))
    assert response.status_code == 200
    assert "f1_macro ≥ 0.8" in response.text
    assert "Save problem definition" not in response.text
    assert 'name="primary_metric"' not in response.text


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_offers_the_form_to(client_for, project, member, owner, role):
    user = owner if role == "owner" else member(role)
    response = client_for(user).get(_url(project))
    assert "Save problem definition" in response.text
    assert 'name="primary_metric"' in response.text


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_saves_the_problem_for(client_for, project, member, owner, role):
    user = owner if role == "owner" else member(role)
    response = client_for(user).post(_url(project), PROBLEM)
    assert response.status_code == 302
    assert response["Location"] == _url(project)
    project.refresh_from_db()
    assert project.name == "Churn, revised"
    assert (project.primary_metric, project.success_threshold) == ("recall", 0.6)
    assert project.latency_budget_ms == 50


def test_it_confirms_the_save_on_the_next_page(client_for, owner, project):
    response = client_for(owner).post(_url(project), PROBLEM, follow=True)
    assert "Problem definition saved." in response.text


def test_it_records_what_changed_in_the_audit_log(client_for, owner, project):
    client_for(owner).post(_url(project), PROBLEM)
    event = AuditEvent.objects.get(verb="project.updated")
    assert event.actor == owner
    assert event.data["primary_metric"] == "recall"
    assert event.data["name"] == "Churn, revised"


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_a_save_from(client_for, project, member, role):
    response = client_for(member(role)).post(_url(project), PROBLEM)
    assert response.status_code == 403
    assert "Only scientists and the owner can change the problem." in response.text
    project.refresh_from_db()
    assert project.primary_metric == "f1_macro"


def test_it_returns_404_to_an_outsider(client_for, outsider, project):
    assert client_for(outsider).get(_url(project)).status_code == 404
    assert client_for(outsider).post(_url(project), PROBLEM).status_code == 404
    project.refresh_from_db()
    assert project.name != "Churn, revised"


def test_it_redirects_anonymous_to_login(client, project):
    response = client.post(_url(project), PROBLEM)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_shows_a_threshold_out_of_range_inline(client_for, owner, project):
    data = {**PROBLEM, "primary_metric": "accuracy", "success_threshold": "1.5"}
    response = client_for(owner).post(_url(project), data)
    assert response.status_code == 400
    assert "The threshold for accuracy must be between 0 and 1." in response.text
    project.refresh_from_db()
    assert project.success_threshold == 0.8


def test_it_keeps_showing_the_saved_contract_after_a_refused_edit(
    client_for, owner, project
):
    data = {**PROBLEM, "name": "Not saved", "success_threshold": "1.5"}
    response = client_for(owner).post(_url(project), data)
    assert response.status_code == 400
    # The header shows what is stored, not what was just refused.
    assert "f1_macro ≥ 0.8" in response.text
    assert "recall ≥ 1.5" not in response.text


def test_it_shows_a_metric_that_does_not_fit_inline(client_for, owner, project):
    data = {**PROBLEM, "task_type": "clustering", "primary_metric": "recall"}
    response = client_for(owner).post(_url(project), data)
    assert response.status_code == 400
    assert "recall does not fit clustering" in response.text
    assert Project.objects.get().task_type == "classification"


def test_it_offers_sensitive_attributes_only_once_data_exists(
    client_for, owner, project
):
    response = client_for(owner).get(_url(project))
    assert "Upload a data set</a> first, then choose them here." in response.text
    assert 'name="sensitive_columns"' not in response.text


def test_it_offers_the_columns_as_sensitive_attributes(
    client_for, owner, project, ready_dataset
):
    response = client_for(owner).get(_url(project))
    for column in ("age", "income", "city", "sex", "churn"):
        assert f'name="sensitive_columns" value="{column}"' in response.text


def test_it_saves_sensitive_attributes_and_starts_an_analysis(
    client_for, owner, project, ready_dataset
):
    response = client_for(owner).post(
        _url(project), {"action": "sensitive", "sensitive_columns": ["sex", "age"]}
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.sensitive_columns == ["sex", "age"]
    job = Job.objects.get(kind="analyze")
    assert (job.subject_id, job.status) == (ready_dataset.pk, "queued")


def test_it_refuses_a_sensitive_attribute_that_is_not_a_column(
    client_for, owner, project, ready_dataset
):
    response = client_for(owner).post(
        _url(project), {"action": "sensitive", "sensitive_columns": ["religion"]}
    )
    assert response.status_code == 400
    assert escape("religion is not one of the available choices") in response.text
    project.refresh_from_db()
    assert project.sensitive_columns == []
    assert not Job.objects.filter(kind="analyze").exists()


def test_it_refuses_sensitive_attributes_before_any_data(client_for, owner, project):
    response = client_for(owner).post(
        _url(project), {"action": "sensitive", "sensitive_columns": ["sex"]}
    )
    assert response.status_code == 400
    project.refresh_from_db()
    assert project.sensitive_columns == []


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_sensitive_attributes_from(
    client_for, project, member, role, ready_dataset
):
    response = client_for(member(role)).post(
        _url(project), {"action": "sensitive", "sensitive_columns": ["sex"]}
    )
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.sensitive_columns == []


def test_it_says_so_when_the_queue_is_down(
    client_for, owner, project, ready_dataset, queue_down
):
    response = client_for(owner).post(
        _url(project), {"action": "sensitive", "sensitive_columns": ["sex"]}
    )
    assert response.status_code == 503
    assert "The job queue is unavailable right now" in response.text
    project.refresh_from_db()
    assert project.sensitive_columns == []


def test_it_reanalyses_the_target_when_the_task_type_changes(
    client_for, owner, project, ready_dataset
):
    project.target_column = "age"
    project.save()
    data = {**PROBLEM, "task_type": "regression", "primary_metric": "rmse"}
    data["success_threshold"] = "5"
    response = client_for(owner).post(_url(project), data)
    assert response.status_code == 302
    assert Job.objects.get(kind="analyze").subject_id == ready_dataset.pk
