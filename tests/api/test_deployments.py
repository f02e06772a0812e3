"""Step 9 over the API: request, approve / reject (four eyes), rollback, audit."""

from __future__ import annotations

import pytest

from projects.models import Deployment
from tests.deploy_support import make_version
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "project_id",
    "status",
    "environment",
    "endpoint",
    "predict_url",
    "model_version",
    "unseen_categories",
    "blocked",
    "evidence",
    "requested_by",
    "requested_at",
    "request_comment",
    "decided_by",
    "decided_at",
    "decision_comment",
    "live_at",
    "ended_at",
    "previous_id",
}


@pytest.fixture
def clients(api_for, owner, member):
    users = {role: member(role) for role in ("viewer", "scientist", "approver")}
    users["owner"] = owner
    return users, {role: api_for(user) for role, user in users.items()}


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def request_one(project, clients, env="staging", **kwargs):
    users, api = clients
    version = make_version(project, users["scientist"], **kwargs)
    response = post(
        api["scientist"],
        f"/api/projects/{project.pk}/deployments",
        {"model_version_id": version.pk, "environment": env, "comment": "go"},
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_it_creates_a_pending_request_with_its_evidence(project, clients):
    body = request_one(project, clients)
    assert set(body) == FIELDS
    assert body["status"] == "pending" and body["blocked"] is False
    assert body["environment"] == "staging"
    assert body["endpoint"] == f"{project.slug}-staging"
    assert body["predict_url"].endswith(f"/deployments/{project.slug}-staging/predict")
    assert body["model_version"]["version"] == 1
    assert body["requested_by"] == "scientist-user"
    assert body["evidence"]["contract"]["passes"] is True


def test_it_refuses_a_request_from_a_viewer_and_an_approver(project, clients):
    users, api = clients
    version = make_version(project, users["scientist"])
    for role in ("viewer", "approver"):
        response = post(
            api[role],
            f"/api/projects/{project.pk}/deployments",
            {"model_version_id": version.pk, "environment": "staging"},
        )
        assert response.status_code == 403
    assert not Deployment.objects.exists()


def test_it_refuses_a_version_of_another_project(project, clients, owner):
    users, api = clients
    other = ProjectFactory()
    MembershipFactory(project=other, user=users["scientist"], role="scientist")
    version = make_version(other, users["scientist"])
    response = post(
        api["scientist"],
        f"/api/projects/{project.pk}/deployments",
        {"model_version_id": version.pk, "environment": "staging"},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "model_version_id"


def test_it_refuses_an_unknown_environment(project, clients):
    users, api = clients
    version = make_version(project, users["scientist"])
    response = post(
        api["scientist"],
        f"/api/projects/{project.pk}/deployments",
        {"model_version_id": version.pk, "environment": "moon"},
    )
    assert response.status_code == 422
    assert response.json()["field"] == "environment"


def test_it_lists_and_shows_deployments_to_members_only(project, clients, api_for):
    _users, api = clients
    body = request_one(project, clients)
    listed = api["viewer"].get(f"/api/projects/{project.pk}/deployments").json()
    assert [d["id"] for d in listed] == [body["id"]]
    shown = api["viewer"].get(f"/api/deployments/{body['id']}")
    assert shown.status_code == 200 and set(shown.json()) == FIELDS
    stranger = api_for(MembershipFactory(project=ProjectFactory()).user)
    assert stranger.get(f"/api/deployments/{body['id']}").status_code == 404
    assert stranger.get(f"/api/projects/{project.pk}/deployments").status_code == 404


@pytest.mark.parametrize("role", ["scientist", "viewer"])
def test_it_refuses_an_approval_from_a_role_without_it(project, clients, role):
    _users, api = clients
    body = request_one(project, clients)
    response = post(api[role], f"/api/deployments/{body['id']}/approve")
    assert response.status_code == 403


def test_it_refuses_the_requester_even_when_owner(project, clients):
    users, api = clients
    version = make_version(project, users["owner"])
    created = post(
        api["owner"],
        f"/api/projects/{project.pk}/deployments",
        {"model_version_id": version.pk, "environment": "staging"},
    ).json()
    response = post(api["owner"], f"/api/deployments/{created['id']}/approve")
    assert response.status_code == 403
    assert "Four eyes" in response.json()["message"]
    response = post(
        api["owner"], f"/api/deployments/{created['id']}/reject", {"comment": "no"}
    )
    assert response.status_code == 403


def test_it_approves_then_refuses_a_second_decision(project, clients):
    _users, api = clients
    body = request_one(project, clients)
    response = post(
        api["approver"], f"/api/deployments/{body['id']}/approve", {"comment": "ok"}
    )
    assert response.status_code == 200
    live = response.json()
    assert live["status"] == "live" and live["decided_by"] == "approver-user"
    assert live["decision_comment"] == "ok" and live["live_at"]
    again = post(api["owner"], f"/api/deployments/{body['id']}/approve")
    assert again.status_code == 409 and again.json()["field"] == "status"
    rejected = post(
        api["owner"], f"/api/deployments/{body['id']}/reject", {"comment": "late"}
    )
    assert rejected.status_code == 409


def test_it_answers_409_for_a_request_blocked_by_policy(project, clients):
    _users, api = clients
    body = request_one(project, clients, env="production", passes=False)
    assert body["blocked"] is True
    response = post(api["approver"], f"/api/deployments/{body['id']}/approve")
    assert response.status_code == 409 and response.json()["field"] == "blocked"


def test_it_needs_an_acknowledgement_of_warnings(project, clients):
    _users, api = clients
    body = request_one(project, clients, passes=False)
    assert body["evidence"]["warnings"]
    response = post(api["approver"], f"/api/deployments/{body['id']}/approve")
    assert response.status_code == 409 and response.json()["field"] == "acknowledge"
    response = post(
        api["approver"],
        f"/api/deployments/{body['id']}/approve",
        {"acknowledge": True},
    )
    assert response.status_code == 200 and response.json()["status"] == "live"


def test_it_rejects_with_a_comment(project, clients):
    _users, api = clients
    body = request_one(project, clients)
    blank = post(
        api["approver"], f"/api/deployments/{body['id']}/reject", {"comment": "  "}
    )
    assert blank.status_code == 422 and blank.json()["field"] == "comment"
    response = post(
        api["approver"], f"/api/deployments/{body['id']}/reject", {"comment": "no"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"


def test_it_rolls_back_to_the_previous_live_deployment(project, clients):
    _users, api = clients
    first = request_one(project, clients)
    post(api["approver"], f"/api/deployments/{first['id']}/approve")
    refused = post(api["scientist"], f"/api/deployments/{first['id']}/rollback")
    assert refused.status_code == 409 and refused.json()["field"] == "previous"
    second = request_one(project, clients, C=0.2)
    post(api["approver"], f"/api/deployments/{second['id']}/approve")
    assert (
        post(api["approver"], f"/api/deployments/{second['id']}/rollback").status_code
        == 403
    )
    response = post(api["scientist"], f"/api/deployments/{second['id']}/rollback")
    assert response.status_code == 200
    assert response.json()["id"] == first["id"]
    assert response.json()["status"] == "live"
    shown = api["viewer"].get(f"/api/deployments/{second['id']}").json()
    assert shown["status"] == "rolled_back"


def test_it_pages_the_audit_log_newest_first(project, clients, api_for):
    _users, api = clients
    body = request_one(project, clients)
    post(api["approver"], f"/api/deployments/{body['id']}/approve")
    page = api["viewer"].get(f"/api/projects/{project.pk}/audit?per_page=2").json()
    assert page["count"] == 3 and page["pages"] == 2 and page["page"] == 1
    assert [e["verb"] for e in page["results"]] == [
        "deployment.live",
        "deployment.approved",
    ]
    first = page["results"][0]
    assert set(first) == {
        "id",
        "at",
        "actor",
        "verb",
        "object_type",
        "object_id",
        "data",
    }
    assert first["actor"] == "approver-user"
    second = api["viewer"].get(f"/api/projects/{project.pk}/audit?page=2&per_page=2")
    assert [e["verb"] for e in second.json()["results"]] == ["deployment.requested"]
    bad = api["viewer"].get(f"/api/projects/{project.pk}/audit?per_page=0")
    assert bad.status_code == 422 and bad.json()["field"] == "per_page"
    stranger = api_for(MembershipFactory(project=ProjectFactory()).user)
    assert stranger.get(f"/api/projects/{project.pk}/audit").status_code == 404
