"""/api/deployments/{id}/keys: create (shown once), list (no secrets), revoke."""

from __future__ import annotations

import pytest

from projects.models import AuditEvent, DeploymentKey
from projects.services.keys import deployment_key_authenticate
from tests.deploy_support import make_version
from tests.serving_support import make_live

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(project, owner):
    return make_live(make_version(project, owner), owner)


def create(client, deployment, name="billing"):
    return client.post(
        f"/api/deployments/{deployment.pk}/keys",
        {"name": name},
        content_type="application/json",
    )


@pytest.mark.parametrize("role", ["scientist", "owner"])
def test_it_creates_a_key_shown_once_for(api_as, deployment, role):
    client = api_as(role)
    response = create(client, deployment)
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith(f"lcd_{body['prefix']}_")
    assert body["name"] == "billing"
    assert deployment_key_authenticate(endpoint=deployment.endpoint, secret=body["key"])
    listed = client.get(f"/api/deployments/{deployment.pk}/keys").json()
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0]
    assert body["key"] not in str(listed)
    assert set(listed[0]) == {
        "id",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "created_by",
    }


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_to_create_a_key_for(api_as, deployment, role):
    response = create(api_as(role), deployment)
    assert response.status_code == 403
    assert not DeploymentKey.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_lists_keys_to_every_member(api_as, deployment, role):
    assert api_as(role).get(f"/api/deployments/{deployment.pk}/keys").status_code == 200


def test_it_hides_keys_from_strangers(api_for, outsider, deployment):
    client = api_for(outsider)
    assert client.get(f"/api/deployments/{deployment.pk}/keys").status_code == 404
    assert create(client, deployment).status_code == 404


def test_it_revokes_a_key(api_as, deployment):
    client = api_as("scientist")
    created = create(client, deployment).json()
    response = client.delete(f"/api/deployments/{deployment.pk}/keys/{created['id']}")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert (
        deployment_key_authenticate(endpoint=deployment.endpoint, secret=created["key"])
        is None
    )
    assert AuditEvent.objects.filter(verb="deployment_key.revoked").count() == 1


def test_it_refuses_a_viewer_revoking(api_as, deployment):
    created = create(api_as("owner"), deployment).json()
    response = api_as("viewer").delete(
        f"/api/deployments/{deployment.pk}/keys/{created['id']}"
    )
    assert response.status_code == 403


def test_it_does_not_find_another_endpoints_key_under_this_deployment(
    api_as, deployment, project, owner
):
    client = api_as("owner")
    production = make_live(
        make_version(project, owner), owner, environment="production"
    )
    other = create(client, production).json()
    response = client.delete(f"/api/deployments/{deployment.pk}/keys/{other['id']}")
    assert response.status_code == 404


def test_it_wants_a_name(api_as, deployment):
    response = create(api_as("owner"), deployment, name="   ")
    assert response.status_code == 422
    assert response.json()["field"] == "name"
