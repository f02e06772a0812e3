"""Owners manage the project's members and their roles in the app."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from projects.models import AuditEvent, Membership
from projects.services.members import member_add, member_remove
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_adds_a_member_and_audits_it(project, owner):
    UserFactory(username="ada")
    membership, created = member_add(
        project=project, actor=owner, username="ada", role="approver"
    )
    assert created and membership.role == "approver"
    event = AuditEvent.objects.get(verb="member.added")
    assert event.data == {"username": "ada", "role": "approver"}


def test_it_changes_the_role_of_an_existing_member(project, owner, member):
    sam = member("scientist")
    membership, created = member_add(
        project=project, actor=owner, username=sam.username, role="approver"
    )
    assert not created and membership.role == "approver"
    assert (
        AuditEvent.objects.get(verb="member.role_changed").data["from"] == "scientist"
    )


def test_it_names_an_unknown_username(project, owner):
    with pytest.raises(ValidationError) as exc:
        member_add(project=project, actor=owner, username="nobody", role="viewer")
    assert "username" in exc.value.message_dict


def test_it_refuses_a_role_that_does_not_exist(project, owner):
    UserFactory(username="ada")
    with pytest.raises(ValidationError) as exc:
        member_add(project=project, actor=owner, username="ada", role="king")
    assert "role" in exc.value.message_dict


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_it_lets_only_the_owner_manage_members(project, member, role):
    actor = member(role)
    UserFactory(username="ada")
    with pytest.raises(PermissionDenied):
        member_add(project=project, actor=actor, username="ada", role="owner")
    with pytest.raises(PermissionDenied):
        member_remove(project=project, actor=actor, user_id=actor.pk)


def test_it_keeps_the_last_owner(project, owner):
    with pytest.raises(ValidationError) as exc:
        member_remove(project=project, actor=owner, user_id=owner.pk)
    assert "user_id" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        member_add(project=project, actor=owner, username=owner.username, role="viewer")
    assert "role" in exc.value.message_dict
    assert Membership.objects.get(project=project, user=owner).role == "owner"


def test_it_removes_a_member_and_audits_it(project, owner, member):
    viewer = member("viewer")
    member_remove(project=project, actor=owner, user_id=viewer.pk)
    assert not Membership.objects.filter(user=viewer).exists()
    assert (
        AuditEvent.objects.get(verb="member.removed").data["username"]
        == viewer.username
    )
