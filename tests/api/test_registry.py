"""Model versions through the API: register, list, read, edit the card; the role
matrix and bad input."""

from __future__ import annotations

import json

import pytest

from projects.models import AuditEvent, Experiment, ModelVersion
from tests.factories import MembershipFactory, ProjectFactory
from tests.registry_support import messy_prepared, trained_on

pytestmark = pytest.mark.django_db

DETAIL_FIELDS = {
    "id",
    "version",
    "project_id",
    "experiment_id",
    "schema",
    "metrics",
    "contract",
    "lineage",
    "card",
    "created_at",
}


def send(client, method, url, body=None):
    return getattr(client, method)(
        url, json.dumps(body or {}), content_type="application/json"
    )


@pytest.fixture
def trained(project, owner, profile_jobs, tmp_path):
    prepared = messy_prepared(project, owner, profile_jobs, tmp_path)
    return trained_on(profile_jobs, prepared, owner)


@pytest.fixture
def registered(trained, api_as):
    response = send(
        api_as("owner"),
        "post",
        f"/api/experiments/{trained.pk}/register",
        {"name": "pilot"},
    )
    assert response.status_code == 201, response.content
    return ModelVersion.objects.get(pk=response.json()["id"])


def test_it_registers_a_succeeded_experiment(trained, api_as):
    client = api_as("scientist")
    response = send(
        client,
        "post",
        f"/api/experiments/{trained.pk}/register",
        {"name": "pilot", "description": "First try."},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= DETAIL_FIELDS
    assert (body["version"], body["experiment_id"], body["name"]) == (
        1,
        trained.pk,
        "pilot",
    )
    assert set(body["contract"]) == {"passes", "parts"}
    column = body["schema"]["columns"][0]
    assert column["name"] == "age"
    assert set(column) == {"name", "kind", "min", "max", "nullable"}
    assert set(body["schema"]["columns"][3]) == {
        "name",
        "kind",
        "categories",
        "nullable",
    }
    # No body at all registers the next one.
    again = client.generic("POST", f"/api/experiments/{trained.pk}/register")
    assert again.status_code == 201 and again.json()["version"] == 2
    assert AuditEvent.objects.filter(verb="model_version.registered").count() == 2


def test_it_lists_and_reads_versions_for_any_member(registered, api_as, project):
    viewer = api_as("viewer")
    listed = viewer.get(f"/api/projects/{project.pk}/model-versions")
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    row = listed.json()["results"][0]
    assert (row["id"], row["version"], row["name"]) == (registered.pk, 1, "pilot")
    assert row["passes"] == registered.contract["passes"]

    detail = viewer.get(f"/api/model-versions/{registered.pk}")
    assert detail.status_code == 200
    body = detail.json()
    assert set(body) >= DETAIL_FIELDS
    assert body["schema"] == registered.schema
    assert body["lineage"]["uploaded_sha256"] == registered.lineage["uploaded_sha256"]
    assert body["card"]["intended_use"] == project.business_goal


def test_it_refuses_an_unfinished_experiment(api_as, project, prepared_dataset):
    experiment = Experiment.objects.create(
        project=project, dataset=prepared_dataset, algorithm="svm"
    )
    response = send(
        api_as("owner"), "post", f"/api/experiments/{experiment.pk}/register"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "experiment"
    assert "only a succeeded" in response.json()["message"]
    assert not ModelVersion.objects.exists()


def test_it_allows_registering_to_scientists_and_the_owner_only(
    api_as, project, prepared_dataset, api_for, outsider
):
    experiment = Experiment.objects.create(
        project=project, dataset=prepared_dataset, algorithm="svm"
    )
    url = f"/api/experiments/{experiment.pk}/register"
    for role in ("viewer", "approver"):
        assert send(api_as(role), "post", url).status_code == 403, role
    MembershipFactory(project=ProjectFactory(), user=outsider, role="owner")
    assert send(api_for(outsider), "post", url).status_code == 404
    assert (
        send(
            api_as("scientist"), "post", "/api/experiments/999999/register"
        ).status_code
        == 404
    )


def test_it_edits_the_card_text_only(registered, api_as):
    client = api_as("owner")
    url = f"/api/model-versions/{registered.pk}/card"

    response = send(client, "patch", url, {"limitations": "Not for minors."})
    assert response.status_code == 200, response.content
    assert response.json()["card"]["limitations"] == "Not for minors."
    registered.refresh_from_db()
    assert registered.card["limitations"] == "Not for minors."

    for body, field in [
        ({"metrics_value": "0.99"}, "metrics_value"),
        ({"intended_use": "  "}, "intended_use"),
        ({"notes": "x" * 5001}, "notes"),
        ({"notes": None}, "notes"),
        ({"data": 5}, "data"),
    ]:
        refused = send(client, "patch", url, body)
        assert refused.status_code == 422, (body, refused.content)
        assert refused.json()["field"] == field, body
    registered.refresh_from_db()
    assert registered.card["limitations"] == "Not for minors."


def test_it_lets_only_scientists_and_the_owner_edit_the_card(
    registered, api_as, api_for, outsider
):
    url = f"/api/model-versions/{registered.pk}/card"
    body = {"notes": "mine"}
    assert send(api_as("viewer"), "patch", url, body).status_code == 403
    assert send(api_as("approver"), "patch", url, body).status_code == 403
    assert send(api_for(outsider), "patch", url, body).status_code == 404
    assert (
        api_for(outsider).get(f"/api/model-versions/{registered.pk}").status_code == 404
    )
    assert send(api_as("scientist"), "patch", url, body).status_code == 200


def test_it_answers_404_for_another_projects_versions(registered, api_for):
    stranger_project = ProjectFactory()
    user = MembershipFactory(project=stranger_project, role="owner").user
    client = api_for(user)
    assert client.get(f"/api/model-versions/{registered.pk}").status_code == 404
    listed = client.get(f"/api/projects/{registered.project_id}/model-versions")
    assert listed.status_code == 404
