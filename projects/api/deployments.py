"""Step 9 over the API: deployment requests, their approval, rollback; members and
the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from ninja import Field, Query, Router, Schema, Status
from pydantic import StrictBool

from projects.access import get_deployment_for, get_model_version_for, get_project_for
from projects.api.responses import reads, writes
from projects.api.schemas import BodyIn, Id
from projects.models import AuditEvent, Deployment, Environment, Role
from projects.services.deployments import (
    deployment_approve,
    deployment_reject,
    deployment_request,
    deployment_rollback,
)
from projects.services.members import member_add, member_remove, members_of

router = Router(tags=["deployments"])

MAX_PER_PAGE = 200
# Text a person reads: something besides blanks, and no NUL.
NON_BLANK = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class DeploymentIn(BodyIn):
    model_version_id: Id
    environment: Literal[tuple(Environment.values)]
    comment: str = Field("", max_length=5000)
    # What a category the model never saw does to a prediction request.
    unseen_categories: Literal[tuple(Deployment.Unseen.values)] = "error"


class ApproveIn(BodyIn):
    comment: str = Field("", max_length=5000)
    # Needed when the request has warnings (a failing check under a "warn" policy).
    acknowledge: StrictBool = False


class RejectIn(BodyIn):
    comment: str = Field(..., min_length=1, max_length=5000, pattern=NON_BLANK)


class MemberIn(BodyIn):
    username: str = Field(..., min_length=1, max_length=150)
    role: Literal[tuple(Role.values)]


class MemberOut(Schema):
    user_id: int
    username: str
    role: str
    created_at: datetime


class ModelVersionRef(Schema):
    id: int
    version: int
    name: str


class DeploymentOut(Schema):
    id: int
    project_id: int
    status: str
    environment: str
    endpoint: str
    predict_url: str
    model_version: ModelVersionRef
    unseen_categories: str
    blocked: bool
    evidence: dict[str, Any]
    requested_by: str | None
    requested_at: datetime
    request_comment: str
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str
    live_at: datetime | None
    ended_at: datetime | None
    previous_id: int | None


class AuditEventOut(Schema):
    id: int
    at: datetime
    actor: str | None
    verb: str
    object_type: str
    object_id: str
    data: dict[str, Any]


class AuditPage(Schema):
    count: int
    page: int
    pages: int
    results: list[AuditEventOut]


class AuditFilters(Schema):
    page: int = Field(1, ge=1, le=2**31 - 1)
    per_page: int = Field(50, ge=1, le=MAX_PER_PAGE)


def deployment_out(request, deployment: Deployment) -> dict:
    version = deployment.model_version
    return {
        "id": deployment.pk,
        "project_id": deployment.project_id,
        "status": deployment.status,
        "environment": deployment.endpoint.environment,
        "endpoint": deployment.endpoint.slug,
        "predict_url": request.build_absolute_uri(deployment.endpoint.predict_path),
        "model_version": {
            "id": version.pk,
            "version": version.version,
            "name": version.name,
        },
        "unseen_categories": deployment.unseen_categories,
        "blocked": deployment.blocked,
        "evidence": deployment.evidence,
        "requested_by": _name(deployment.requested_by),
        "requested_at": deployment.requested_at,
        "request_comment": deployment.request_comment,
        "decided_by": _name(deployment.decided_by),
        "decided_at": deployment.decided_at,
        "decision_comment": deployment.decision_comment,
        "live_at": deployment.live_at,
        "ended_at": deployment.ended_at,
        "previous_id": deployment.previous_id,
    }


def _name(user) -> str | None:
    return user.username if user is not None else None


def _member(membership) -> dict:
    return {
        "user_id": membership.user_id,
        "username": membership.user.username,
        "role": membership.role,
        "created_at": membership.created_at,
    }


@router.post(
    "/projects/{int:project_id}/deployments",
    response=writes({201: DeploymentOut}),
)
def create_deployment(request, project_id: int, payload: DeploymentIn):
    """Request a deployment: the evidence pack is assembled now, the environment's
    policy applied (``blocked``, or ``evidence.warnings`` to acknowledge), and the
    project's approvers e-mailed."""
    project = get_project_for(request.user, project_id, need=Role.SCIENTIST)
    version = get_model_version_for(
        request.user, payload.model_version_id, need=Role.SCIENTIST
    )
    if version.project_id != project.pk:
        raise ValidationError(
            {"model_version_id": "That model version belongs to another project."}
        )
    deployment = deployment_request(
        version=version,
        environment=payload.environment,
        user=request.user,
        comment=payload.comment,
        unseen_categories=payload.unseen_categories,
    )
    return Status(201, deployment_out(request, _fresh(deployment.pk)))


def _fresh(pk: int) -> Deployment:
    return Deployment.objects.select_related(
        "endpoint", "model_version", "requested_by", "decided_by"
    ).get(pk=pk)


@router.get(
    "/projects/{int:project_id}/deployments",
    response=reads({200: list[DeploymentOut]}),
)
def list_deployments(request, project_id: int):
    """The project's deployments, newest request first."""
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    qs = Deployment.objects.filter(project=project).select_related(
        "endpoint", "model_version", "requested_by", "decided_by"
    )
    return [deployment_out(request, d) for d in qs]


@router.get("/deployments/{int:deployment_id}", response=reads({200: DeploymentOut}))
def get_deployment(request, deployment_id: int):
    deployment = get_deployment_for(request.user, deployment_id, need=Role.VIEWER)
    return deployment_out(request, deployment)


@router.post(
    "/deployments/{int:deployment_id}/approve",
    response=writes({200: DeploymentOut}, 409),
)
def approve_deployment(request, deployment_id: int, payload: ApproveIn):
    """Four eyes: an approver or owner who did not request it. 409 when it is not
    pending, is blocked by policy, has unacknowledged warnings, or its model file
    fails verification."""
    deployment = get_deployment_for(request.user, deployment_id, need=Role.APPROVER)
    live = deployment_approve(
        deployment=deployment,
        user=request.user,
        comment=payload.comment,
        acknowledge=payload.acknowledge,
    )
    return deployment_out(request, _fresh(live.pk))


@router.post(
    "/deployments/{int:deployment_id}/reject",
    response=writes({200: DeploymentOut}, 409),
)
def reject_deployment(request, deployment_id: int, payload: RejectIn):
    """Four eyes, as approve; the comment says why. 409 unless pending."""
    deployment = get_deployment_for(request.user, deployment_id, need=Role.APPROVER)
    rejected = deployment_reject(
        deployment=deployment, user=request.user, comment=payload.comment
    )
    return deployment_out(request, _fresh(rejected.pk))


@router.post(
    "/deployments/{int:deployment_id}/rollback",
    response=writes({200: DeploymentOut}, 409),
)
def rollback_deployment(request, deployment_id: int):
    """Put back the approved deployment this live one replaced; answers that one
    (now live). 409 unless live with an earlier approved deployment."""
    deployment = get_deployment_for(request.user, deployment_id, need=Role.SCIENTIST)
    back = deployment_rollback(deployment=deployment, user=request.user)
    return deployment_out(request, _fresh(back.pk))


@router.get(
    "/projects/{int:project_id}/members", response=reads({200: list[MemberOut]})
)
def list_members(request, project_id: int):
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    return [_member(m) for m in members_of(project)]


@router.post(
    "/projects/{int:project_id}/members",
    response=writes({200: MemberOut, 201: MemberOut}),
)
def add_member(request, project_id: int, payload: MemberIn):
    """Owners: add a user by username (201), or change a member's role (200). The
    last owner keeps the role (400)."""
    project = get_project_for(request.user, project_id, need=Role.OWNER)
    membership, created = member_add(
        project=project,
        actor=request.user,
        username=payload.username,
        role=payload.role,
    )
    return Status(201 if created else 200, _member(membership))


@router.delete(
    "/projects/{int:project_id}/members/{int:user_id}",
    response=writes({204: None}),
)
def remove_member(request, project_id: int, user_id: int):
    """Owners: remove a member (not the last owner: 400)."""
    project = get_project_for(request.user, project_id, need=Role.OWNER)
    member_remove(project=project, actor=request.user, user_id=user_id)
    return Status(204, None)


@router.get("/projects/{int:project_id}/audit", response=reads({200: AuditPage}))
def project_audit(request, project_id: int, filters: Query[AuditFilters]):
    """The project's audit log, newest first: ``?page=``, ``?per_page=`` (≤ 200)."""
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    qs = (
        AuditEvent.objects.filter(project=project)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
    page = Paginator(qs, filters.per_page).get_page(filters.page)
    return {
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "results": [
            {
                "id": e.pk,
                "at": e.created_at,
                "actor": _name(e.actor),
                "verb": e.verb,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "data": e.data,
            }
            for e in page.object_list
        ],
    }
