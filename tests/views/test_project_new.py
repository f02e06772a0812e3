from __future__ import annotations

import pytest

from projects.models import Membership, Project

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "Churn next quarter",
    "task_type": "classification",
    "business_goal": "Call customers before they leave.",
    "primary_metric": "roc_auc",
    "success_threshold": "0.75",
    "latency_budget_ms": "200",
    "description": "",
}


def test_it_shows_the_form(client_for, outsider):
    response = client_for(outsider).get("/projects/new/")
    assert response.status_code == 200
    assert "Step 1: problem definition" in response.text
    assert 'name="primary_metric"' in response.text


def test_it_creates_the_project_and_makes_me_owner(client_for, outsider):
    response = client_for(outsider).post("/projects/new/", GOOD)
    project = Project.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/steps/data/"
    assert project.slug == "churn-next-quarter"
    assert (project.primary_metric, project.success_threshold) == ("roc_auc", 0.75)
    assert project.created_by == outsider
    membership = Membership.objects.get(project=project)
    assert (membership.user, membership.role) == (outsider, "owner")


def test_it_gives_a_second_project_of_the_same_name_its_own_slug(client_for, owner):
    client = client_for(owner)
    client.post("/projects/new/", GOOD)
    client.post("/projects/new/", GOOD)
    slugs = sorted(Project.objects.values_list("slug", flat=True))
    assert slugs == ["churn-next-quarter", "churn-next-quarter-2"]


def test_it_refuses_a_metric_that_does_not_fit_the_task(client_for, owner):
    data = {**GOOD, "task_type": "regression", "primary_metric": "accuracy"}
    response = client_for(owner).post("/projects/new/", data)
    assert "accuracy does not fit regression; choose one of: rmse" in response.text
    assert not Project.objects.exists()
    assert not Membership.objects.exists()


def test_it_refuses_an_accuracy_threshold_above_one(client_for, owner):
    data = {**GOOD, "primary_metric": "accuracy", "success_threshold": "1.5"}
    response = client_for(owner).post("/projects/new/", data)
    assert "The threshold for accuracy must be between 0 and 1." in response.text
    assert not Project.objects.exists()


def test_it_refuses_a_negative_rmse_threshold(client_for, owner):
    data = {
        **GOOD,
        "task_type": "regression",
        "primary_metric": "rmse",
        "success_threshold": "-1",
    }
    response = client_for(owner).post("/projects/new/", data)
    assert "The threshold for rmse must be at least 0." in response.text
    assert not Project.objects.exists()


def test_it_requires_a_name(client_for, owner):
    response = client_for(owner).post("/projects/new/", {**GOOD, "name": ""})
    assert "This field is required." in response.text
    assert not Project.objects.exists()


def test_it_redirects_anonymous_to_login(client):
    response = client.post("/projects/new/", GOOD)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not Project.objects.exists()
