"""Project members and their roles, managed by the project's owners in the app."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from projects.access import can
from projects.models import Membership, Project, Role
from projects.services.audit import audit_record

LAST_OWNER = "A project keeps at least one owner: make someone else owner first."


def _require_owner(project: Project, actor) -> None:
    if not can(actor, project, Role.OWNER):
        raise PermissionDenied("Only the owner of this project can manage members.")


def _other_owners(project: Project, user) -> bool:
    return (
        Membership.objects.filter(project=project, role=Role.OWNER)
        .exclude(user=user)
        .exists()
    )


def member_add(
    *, project: Project, actor, username: str, role: str
) -> tuple[Membership, bool]:
    """Add ``username`` with ``role``, or change an existing member's role.

    Returns ``(membership, created)``.
    """
    _require_owner(project, actor)
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of: {', '.join(Role.values)}."})
    user = get_user_model().objects.filter(username=(username or "").strip()).first()
    if user is None or not user.is_active:
        raise ValidationError({"username": f"No active user is called {username!r}."})
    with transaction.atomic():
        # Lock the project's owners so two demotions cannot leave none.
        list(
            Membership.objects.select_for_update().filter(
                project=project, role=Role.OWNER
            )
        )
        membership = Membership.objects.filter(project=project, user=user).first()
        if membership is None:
            membership = Membership(project=project, user=user, role=role)
            membership.full_clean()
            membership.save()
            audit_record(
                actor=actor,
                verb="member.added",
                obj=membership,
                project=project,
                data={"username": user.username, "role": role},
            )
            return membership, True
        if membership.role == role:
            return membership, False
        if membership.role == Role.OWNER and not _other_owners(project, user):
            raise ValidationError({"role": LAST_OWNER})
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            verb="member.role_changed",
            obj=membership,
            project=project,
            data={"username": user.username, "from": before, "to": role},
        )
    project.__dict__.pop("_role_cache", None)
    return membership, False


def member_remove(*, project: Project, actor, user_id: int) -> None:
    """Remove a member; the last owner stays."""
    _require_owner(project, actor)
    with transaction.atomic():
        list(
            Membership.objects.select_for_update().filter(
                project=project, role=Role.OWNER
            )
        )
        membership = (
            Membership.objects.select_related("user")
            .filter(project=project, user_id=user_id)
            .first()
        )
        if membership is None:
            from django.http import Http404

            raise Http404("No such member.")
        if membership.role == Role.OWNER and not _other_owners(
            project, membership.user
        ):
            raise ValidationError({"user_id": LAST_OWNER})
        audit_record(
            actor=actor,
            verb="member.removed",
            obj=membership,
            project=project,
            data={"username": membership.user.username, "role": membership.role},
        )
        membership.delete()
    project.__dict__.pop("_role_cache", None)


def members_of(project: Project):
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("user__username")
    )
