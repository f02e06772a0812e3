"""GET /api/projects/{id}/datasets and /api/datasets/{id}."""

from __future__ import annotations

import pytest

from projects.services.datasets import dataset_upload
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

MEMBERS = ["viewer", "scientist", "approver", "owner"]


@pytest.mark.parametrize("role", MEMBERS)
def test_it_shows_a_profiled_data_set_to(api_as, role, ready_dataset):
    response = api_as(role).get(f"/api/datasets/{ready_dataset.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["version"], body["status"]) == (
        ready_dataset.pk,
        1,
        "ready",
    )
    assert (body["n_rows"], body["n_columns"]) == (200, 5)
    assert body["sha256"] == ready_dataset.sha256
    assert body["original_name"] == "churn.csv"
    assert body["created_by"] == "olivia"
    assert body["job"]["status"] == "succeeded"


def test_it_describes_every_column(api_as, ready_dataset):
    body = api_as("viewer").get(f"/api/datasets/{ready_dataset.pk}").json()
    columns = {c["name"]: c for c in body["columns"]}
    assert list(columns) == ["age", "income", "city", "sex", "churn"]
    assert columns["income"]["kind"] == "numeric"
    assert columns["income"]["missing"] == 20
    assert columns["city"]["distinct"] == 3
    assert columns["churn"]["distinct"] == 2
    for column in body["columns"]:
        assert {"kind", "missing", "distinct"} <= set(column)


def test_it_includes_the_warnings_and_the_profile(api_as, ready_dataset):
    body = api_as("viewer").get(f"/api/datasets/{ready_dataset.pk}").json()
    assert body["warnings"] == ready_dataset.profile["warnings"]
    assert any(w["code"] and w["message"] for w in body["warnings"])
    assert body["profile"]["n_rows"] == 200
    assert body["analysis"] is None


def test_it_says_ingesting_while_the_job_waits(api_as, project, owner, churn_csv):
    dataset, job = dataset_upload(
        project=project, user=owner, path=churn_csv, filename="c.csv"
    )
    body = api_as("viewer").get(f"/api/datasets/{dataset.pk}").json()
    assert body["status"] == "ingesting"
    assert body["profile"] is None and body["warnings"] == []
    assert body["job"] == {"id": str(job.id), "status": "queued"}
    # Nothing is known of the content until the job has read it.
    assert (body["columns"], body["n_rows"], body["sha256"]) == ([], 0, "")


def test_it_returns_404_to_an_outsider(api_for, outsider, ready_dataset):
    response = api_for(outsider).get(f"/api/datasets/{ready_dataset.pk}")
    assert response.status_code == 404
    assert "olivia" not in response.text and "churn" not in response.text


def test_it_does_not_reveal_that_a_hidden_data_set_exists(
    api_for, outsider, ready_dataset
):
    client = api_for(outsider)
    hidden = client.get(f"/api/datasets/{ready_dataset.pk}")
    missing = client.get(f"/api/datasets/{ready_dataset.pk + 1000}")
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())


def test_it_returns_404_to_a_member_of_another_project(api_for, ready_dataset):
    """R21: membership of one project opens nothing in another, by any id."""
    other = ProjectFactory(name="Other")
    stranger = MembershipFactory(project=other, role="owner").user
    client = api_for(stranger)
    assert client.get(f"/api/datasets/{ready_dataset.pk}").status_code == 404
    project_id = ready_dataset.project_id
    assert client.get(f"/api/projects/{project_id}/datasets").status_code == 404
    job = ready_dataset.project.jobs.get()
    assert client.get(f"/api/jobs/{job.id}").status_code == 404
    assert client.post(f"/api/jobs/{job.id}/retry").status_code == 404
    assert ready_dataset.project.jobs.count() == 1


def test_it_returns_the_same_404_for_a_data_set_that_does_not_exist(api_as):
    response = api_as("owner").get("/api/datasets/999999")
    assert response.status_code == 404
    assert response.json()["message"] == "No such dataset."


def test_it_returns_401_to_anonymous(client, ready_dataset):
    assert client.get(f"/api/datasets/{ready_dataset.pk}").status_code == 401


@pytest.mark.parametrize("role", MEMBERS)
def test_it_lists_the_versions_to(
    api_as, project, owner, role, ready_dataset, churn_csv
):
    dataset_upload(project=project, user=owner, path=churn_csv, filename="v2.csv")
    response = api_as(role).get(f"/api/projects/{project.pk}/datasets")
    assert response.status_code == 200
    assert [(d["version"], d["status"]) for d in response.json()] == [
        (2, "ingesting"),
        (1, "ready"),
    ]
    assert "profile" not in response.json()[0]


def test_it_returns_404_for_the_list_to_an_outsider(api_for, outsider, project):
    response = api_for(outsider).get(f"/api/projects/{project.pk}/datasets")
    assert response.status_code == 404


def test_it_returns_401_for_the_list_to_anonymous(client, project):
    assert client.get(f"/api/projects/{project.pk}/datasets").status_code == 401
