"""Owners manage members and roles over the API."""

from __future__ import annotations

import pytest

from projects.models import Membership
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_it_lists_the_members_to_any_member(project, api_as):
    response = api_as("viewer").get(f"/api/projects/{project.pk}/members")
    assert response.status_code == 200
    rows = {m["username"]: m for m in response.json()}
    assert rows["olivia"]["role"] == "owner"
    assert set(rows["olivia"]) == {"user_id", "username", "role", "created_at"}


def test_it_hides_the_members_from_strangers(project, api_for):
    stranger = api_for(MembershipFactory(project=ProjectFactory()).user)
    assert stranger.get(f"/api/projects/{project.pk}/members").status_code == 404


def test_it_adds_a_member_then_changes_the_role(project, api_as):
    owner = api_as("owner")
    UserFactory(username="ada")
    url = f"/api/projects/{project.pk}/members"
    added = post(owner, url, {"username": "ada", "role": "approver"})
    assert added.status_code == 201 and added.json()["role"] == "approver"
    changed = post(owner, url, {"username": "ada", "role": "viewer"})
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"


def test_it_names_an_unknown_username(project, api_as):
    response = post(
        api_as("owner"),
        f"/api/projects/{project.pk}/members",
        {"username": "nobody", "role": "viewer"},
    )
    assert response.status_code == 400 and response.json()["field"] == "username"


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_it_lets_only_the_owner_manage(project, api_as, role):
    client = api_as(role)
    UserFactory(username="ada")
    response = post(
        client,
        f"/api/projects/{project.pk}/members",
        {"username": "ada", "role": "owner"},
    )
    assert response.status_code == 403


def test_it_removes_a_member_but_not_the_last_owner(project, api_as, owner, member):
    viewer = member("viewer")
    client = api_as("owner")
    gone = client.delete(f"/api/projects/{project.pk}/members/{viewer.pk}")
    assert gone.status_code == 204
    assert not Membership.objects.filter(user=viewer).exists()
    again = client.delete(f"/api/projects/{project.pk}/members/{viewer.pk}")
    assert again.status_code == 404
    last = client.delete(f"/api/projects/{project.pk}/members/{owner.pk}")
    assert last.status_code == 400 and last.json()["field"] == "user_id"
