"""/api/projects: create, list, read and change projects."""

from __future__ import annotations

import pytest

from projects.models import AuditEvent, Job, Membership, Project
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

NEW = {
    "name": "House prices",
    "task_type": "regression",
    "primary_metric": "rmse",
    "success_threshold": 25000,
    "business_goal": "Price listings fairly.",
    "latency_budget_ms": 100,
}
MEMBERS = ["viewer", "scientist", "approver", "owner"]


def _patch(client, project, body):
    return client.patch(f"/api/projects/{project.pk}", body, "application/json")


# --- create -----------------------------------------------------------------


def test_it_creates_a_project_and_makes_me_owner(api_for, outsider):
    response = api_for(outsider).post("/api/projects", NEW, "application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "house-prices"
    assert (body["primary_metric"], body["higher_is_better"]) == ("rmse", False)
    assert body["success_threshold"] == 25000
    project = Project.objects.get(pk=body["id"])
    assert Membership.objects.get(project=project).user == outsider
    assert Membership.objects.get(project=project).role == "owner"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"task_type": "forecasting"}, "task_type"),
        ({"primary_metric": None}, "primary_metric"),
        ({"success_threshold": "high"}, "success_threshold"),
        ({"latency_budget_ms": 0}, "latency_budget_ms"),
    ],
)
def test_it_names_the_field_of_a_schema_error(api_for, owner, change, field):
    response = api_for(owner).post(
        "/api/projects", {**NEW, **change}, "application/json"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == field
    assert body["message"].startswith(f"{field}: ")
    assert not Project.objects.exists()


def test_it_names_every_missing_field(api_for, owner):
    response = api_for(owner).post("/api/projects", {}, "application/json")
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"name", "task_type", "primary_metric"}


def test_it_refuses_a_body_that_is_not_json(api_for, owner):
    response = api_for(owner).post("/api/projects", "name=x", "application/json")
    assert response.status_code == 400
    assert response.json()["message"] == "Cannot parse request body"
    assert not Project.objects.exists()


@pytest.mark.parametrize("body", ["0", "[]", '"name"', "null"])
def test_it_refuses_a_patch_body_that_is_not_an_object(api_as, project, body):
    response = _patch(api_as("owner"), project, body)
    # Before: `0` was a PATCH of nothing, answered 200.
    assert response.status_code == 400
    assert response.json()["message"] == "Cannot parse request body"


def test_it_refuses_a_metric_that_does_not_fit_the_task(api_for, owner):
    response = api_for(owner).post(
        "/api/projects", {**NEW, "primary_metric": "accuracy"}, "application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "primary_metric"
    assert body["message"].startswith("accuracy does not fit regression")
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("metric", "value", "message"),
    [
        ("accuracy", 1.5, "The threshold for accuracy must be between 0 and 1."),
        ("roc_auc", -0.1, "The threshold for roc_auc must be between 0 and 1."),
        ("log_loss", -2, "The threshold for log_loss must be at least 0."),
    ],
)
def test_it_refuses_a_threshold_out_of_range(api_for, owner, metric, value, message):
    body = {**NEW, "task_type": "classification", "primary_metric": metric}
    response = api_for(owner).post(
        "/api/projects", {**body, "success_threshold": value}, "application/json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "success_threshold"
    assert response.json()["message"] == message
    assert not Project.objects.exists()


# --- list and read ----------------------------------------------------------


def test_it_lists_only_my_projects(api_as, project):
    ProjectFactory(name="Not mine")
    response = api_as("viewer").get("/api/projects")
    assert response.status_code == 200
    assert [p["name"] for p in response.json()] == [project.name]


def test_it_lists_nothing_to_an_outsider(api_for, outsider, project):
    assert api_for(outsider).get("/api/projects").json() == []


@pytest.mark.parametrize("role", MEMBERS)
def test_it_shows_a_project_to(api_as, project, role):
    response = api_as(role).get(f"/api/projects/{project.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["slug"], body["task_type"]) == (
        project.pk,
        project.slug,
        "classification",
    )
    assert body["target_column"] == "" and body["sensitive_columns"] == []


def test_it_returns_404_to_an_outsider(api_for, outsider, project):
    response = api_for(outsider).get(f"/api/projects/{project.pk}")
    assert response.status_code == 404
    assert response.json()["message"] == "No such project."


def test_it_returns_the_same_404_for_a_project_that_does_not_exist(api_for, outsider):
    response = api_for(outsider).get("/api/projects/999999")
    assert response.status_code == 404
    assert response.json()["message"] == "No such project."


def test_it_returns_401_to_anonymous(client, project):
    assert client.get(f"/api/projects/{project.pk}").status_code == 401


# --- change -----------------------------------------------------------------


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_changes_the_problem_for(api_as, project, role):
    response = _patch(api_as(role), project, {"name": "Renamed", "business_goal": "X"})
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    project.refresh_from_db()
    assert (project.name, project.business_goal) == ("Renamed", "X")
    assert project.primary_metric == "f1_macro"  # untouched fields stay
    assert AuditEvent.objects.filter(verb="project.updated").exists()


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_a_change_from(api_as, project, role):
    response = _patch(api_as(role), project, {"name": "Renamed"})
    assert response.status_code == 403
    assert response.json()["message"] == (
        "Only scientists and the owner of this project can do this."
    )
    project.refresh_from_db()
    assert project.name != "Renamed"


def test_it_returns_404_for_a_change_to_an_outsider(api_for, outsider, project):
    assert _patch(api_for(outsider), project, {"name": "Renamed"}).status_code == 404
    project.refresh_from_db()
    assert project.name != "Renamed"


def test_it_returns_401_for_a_change_to_anonymous(client, project):
    assert _patch(client, project, {"name": "Renamed"}).status_code == 401


def test_it_refuses_a_threshold_that_no_longer_fits(api_as, project):
    response = _patch(api_as("owner"), project, {"success_threshold": 2})
    assert response.status_code == 400
    assert response.json()["field"] == "success_threshold"
    project.refresh_from_db()
    assert project.success_threshold == 0.8


def test_it_refuses_to_clear_a_required_field(api_as, project):
    response = _patch(api_as("owner"), project, {"primary_metric": None})
    # The document says the field is never null: a schema error.
    assert response.status_code == 422
    assert response.json()["field"] == "primary_metric"


def test_it_refuses_a_target_before_there_is_data(api_as, project):
    response = _patch(api_as("owner"), project, {"target_column": "churn"})
    assert response.status_code == 400
    assert response.json()["field"] == "target_column"
    assert response.json()["message"].startswith("Upload a data set first")


def test_it_sets_the_target_and_starts_an_analysis(api_as, project, ready_dataset):
    response = _patch(api_as("scientist"), project, {"target_column": "churn"})
    assert response.status_code == 200
    assert response.json()["target_column"] == "churn"
    job = Job.objects.get(kind="analyze")
    assert (job.subject_id, job.status) == (ready_dataset.pk, "queued")


def test_it_refuses_a_target_that_is_not_a_column(api_as, project, ready_dataset):
    response = _patch(api_as("owner"), project, {"target_column": "revenue"})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "target_column"
    assert body["message"] == "'revenue' is not a column of the latest data set."
    project.refresh_from_db()
    assert project.target_column == ""
    assert not Job.objects.filter(kind="analyze").exists()


def test_it_sets_sensitive_columns(api_as, project, ready_dataset):
    response = _patch(api_as("owner"), project, {"sensitive_columns": ["sex", "age"]})
    assert response.status_code == 200
    assert response.json()["sensitive_columns"] == ["sex", "age"]
    assert Job.objects.filter(kind="analyze").count() == 1


def test_it_refuses_sensitive_columns_that_are_not_columns(
    api_as, project, ready_dataset
):
    response = _patch(api_as("owner"), project, {"sensitive_columns": ["religion"]})
    assert response.status_code == 400
    assert response.json()["field"] == "sensitive_columns"
    assert "'religion'" in response.json()["message"]
    project.refresh_from_db()
    assert project.sensitive_columns == []


def test_it_refuses_the_target_as_a_sensitive_column(api_as, project, ready_dataset):
    response = _patch(
        api_as("owner"),
        project,
        {"target_column": "sex", "sensitive_columns": ["sex"]},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "sensitive_columns"
    project.refresh_from_db()
    assert (project.target_column, project.sensitive_columns) == ("", [])


def test_it_refuses_sensitive_columns_that_are_not_a_list(api_as, project):
    response = _patch(api_as("owner"), project, {"sensitive_columns": "sex"})
    assert response.status_code == 422
    assert response.json()["field"] == "sensitive_columns"


def test_it_answers_503_when_the_queue_is_unavailable(
    api_as, project, ready_dataset, queue_down
):
    client = api_as("owner")
    response = _patch(client, project, {"target_column": "churn"})
    assert response.status_code == 503
    assert "The job queue is unavailable right now" in response.json()["message"]
    project.refresh_from_db()
    assert project.target_column == ""


def test_it_keeps_reading_when_the_queue_is_unavailable(api_as, project, queue_down):
    assert api_as("viewer").get(f"/api/projects/{project.pk}").status_code == 200


def test_it_refuses_a_nul_character_in_a_body_naming_its_place(api_for, owner):
    # PostgreSQL cannot store NUL: refused where it arrives, not a 500 on save.
    response = api_for(owner).post(
        "/api/projects", {**NEW, "description": "a\x00b"}, "application/json"
    )
    assert response.status_code == 422
    assert "description: text must not contain the NUL" in response.json()["message"]
    assert not Project.objects.exists()


def test_it_refuses_a_nul_character_in_a_query_naming_its_field(api_as, project):
    response = api_as("viewer").get(
        f"/api/projects/{project.pk}/experiments", {"algorithm": "svm\x00"}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "algorithm"


def test_it_says_in_the_document_that_no_text_holds_a_nul(client):
    document = client.get("/api/openapi.json").json()
    project_in = document["components"]["schemas"]["ProjectIn"]["properties"]
    assert project_in["description"]["pattern"] == "^[^\\u0000]*$"
