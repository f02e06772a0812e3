"""The project's audit log and members pages."""

from __future__ import annotations

import pytest

from projects.models import AuditEvent, Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_shows_the_audit_log_newest_first_and_paged(client_for, project, member):
    viewer = member("viewer")
    for n in range(55):
        AuditEvent.objects.create(
            project=project, verb=f"thing.{n}", object_type="project", object_id="1"
        )
    client = client_for(viewer)
    html = client.get(f"/projects/{project.slug}/audit/").text
    assert html.index("thing.54") < html.index("thing.10")
    assert "thing.4<" not in html
    assert "Page 1 of 2 · 55 events" in html
    second = client.get(f"/projects/{project.slug}/audit/?page=2").text
    assert "thing.4<" in second and "thing.54" not in second


def test_it_hides_the_audit_log_from_strangers(client_for, project, outsider):
    response = client_for(outsider).get(f"/projects/{project.slug}/audit/")
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_it_shows_the_members_without_the_form(client_for, project, member, role):
    html = client_for(member(role)).get(f"/projects/{project.slug}/members/").text
    assert 'data-member="olivia"' in html
    assert 'id="member-form"' not in html and "Remove" not in html


def test_it_lets_the_owner_add_a_member(client_for, project, owner):
    UserFactory(username="ada")
    client = client_for(owner)
    response = client.post(
        f"/projects/{project.slug}/members/", {"username": "ada", "role": "approver"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user__username="ada").role == "approver"
    assert "ada added as approver." in client.get(response["Location"]).text


def test_it_names_an_unknown_user_inline(client_for, project, owner):
    response = client_for(owner).post(
        f"/projects/{project.slug}/members/", {"username": "nobody", "role": "viewer"}
    )
    assert response.status_code == 400
    assert "No active user is called &#x27;nobody&#x27;." in response.text


def test_it_refuses_members_without_the_owner_role(client_for, project, member):
    UserFactory(username="ada")
    response = client_for(member("approver")).post(
        f"/projects/{project.slug}/members/", {"username": "ada", "role": "owner"}
    )
    assert response.status_code == 403


def test_it_removes_a_member_but_keeps_the_last_owner(
    client_for, project, owner, member
):
    viewer = member("viewer")
    client = client_for(owner)
    gone = client.post(f"/projects/{project.slug}/members/{viewer.pk}/remove/")
    assert gone.status_code == 302
    assert not Membership.objects.filter(user=viewer).exists()
    last = client.post(f"/projects/{project.slug}/members/{owner.pk}/remove/")
    assert last.status_code == 400
    assert "A project keeps at least one owner" in last.text
