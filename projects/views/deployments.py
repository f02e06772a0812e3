"""Step 9 pages: versions and requests, the deployment page with its evidence pack
and decision, the approval queue, the audit log and the members page.

Views are thin: access, form, service, render. The services enforce the rules
(four eyes, policy, verification); a refusal lands where the user acted.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from projects.access import can, get_deployment_for, get_project_for
from projects.forms import ApproveForm, DeploymentRequestForm, MemberForm, RejectForm
from projects.models import AuditEvent, Deployment, ModelVersion, Role
from projects.services.deployments import (
    DeploymentConflict,
    deployment_approve,
    deployment_reject,
    deployment_request,
    deployment_rollback,
    pending_for,
)
from projects.services.members import member_add, member_remove, members_of
from projects.services.registry import CARD_TEXT_FIELDS
from projects.views.common import render_step

AUDIT_PER_PAGE = 50
REQUESTS_SHOWN = 100


def _deployments(project):
    return Deployment.objects.filter(project=project).select_related(
        "endpoint", "model_version", "requested_by", "decided_by"
    )


def _request(request, project, form: DeploymentRequestForm) -> Deployment | None:
    """The request the form asks for, or None with the errors on the form."""
    if not form.is_valid():
        return None
    data = dict(form.cleaned_data)
    version = ModelVersion.objects.filter(
        project=project, pk=data.pop("model_version")
    ).first()
    if version is None:
        form.add_error(None, "No such model version in this project.")
        return None
    try:
        return deployment_request(version=version, user=request.user, **data)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


def deployment_step(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 9: versions with a request form each, requests, live, the queue."""
    need = Role.SCIENTIST if request.method == "POST" else Role.VIEWER
    project = get_project_for(request.user, slug, need=need)
    form = DeploymentRequestForm(request.POST) if request.method == "POST" else None
    if form is not None:
        made = _request(request, project, form)
        if made is not None:
            return redirect(_page_url(made))
    versions = list(
        ModelVersion.objects.filter(project=project).select_related("experiment")
    )
    bound = form.data.get("model_version") if form is not None else None
    ids = {str(v.pk) for v in versions}
    deployments = list(_deployments(project)[:REQUESTS_SHOWN])
    context = {
        "versions": [
            (
                v,
                form
                if bound == str(v.pk)
                else DeploymentRequestForm(
                    initial={"model_version": v.pk}, auto_id=f"id_v{v.pk}_%s"
                ),
            )
            for v in versions
        ],
        "stray_form": form if form is not None and bound not in ids else None,
        "deployments": deployments,
        "live": [d for d in deployments if d.status == Deployment.Status.LIVE],
        "queue": list(
            pending_for(request.user)
            .filter(project=project)
            .select_related("endpoint", "model_version", "requested_by")
        ),
        "is_approver": can(request.user, project, Role.APPROVER),
        "policy": settings.DEPLOYMENT_POLICY,
    }
    status = 400 if form is not None else 200
    return render_step(
        request, project, "deployment", "projects/step_deployment.html", context, status
    )


def _page_url(deployment: Deployment) -> str:
    return reverse("projects:deployment", args=[deployment.project.slug, deployment.pk])


def _decision_block(request, deployment: Deployment) -> str:
    """Why the user cannot decide here ("" when they can)."""
    if deployment.status != Deployment.Status.PENDING:
        return ""
    if deployment.requested_by_id == request.user.pk:
        return (
            "You requested this deployment: four eyes means another approver or "
            "owner decides it."
        )
    if not can(request.user, deployment.project, Role.APPROVER):
        return "Only approvers and the owner of this project decide deployments."
    if deployment.blocked:
        return (
            f"The {deployment.endpoint.environment} policy blocks this request "
            "(a check failed): it cannot be approved. It can still be rejected."
        )
    return ""


def _deployment_page(request, slug, deployment_id, *, status=200, **forms):
    deployment = get_deployment_for(request.user, deployment_id)
    if deployment.project.slug != slug:
        raise Http404("No such deployment.")
    project = deployment.project
    context = {
        "project": project,
        "role": project.user_role,
        "deployment": deployment,
        "evidence": deployment.evidence,
        # The card's text sections (its other keys are facts shown elsewhere).
        "card_items": [
            (label, card[key])
            for key, label in CARD_TEXT_FIELDS.items()
            if (card := deployment.evidence.get("card") or {}).get(key)
        ],
        "decision_block": _decision_block(request, deployment),
        "can_decide": deployment.status == Deployment.Status.PENDING
        and can(request.user, project, Role.APPROVER)
        and deployment.requested_by_id != request.user.pk,
        "can_rollback": deployment.status == Deployment.Status.LIVE
        and deployment.previous_id is not None
        and can(request.user, project, Role.SCIENTIST),
        "approve_form": forms.get("approve_form") or ApproveForm(),
        "reject_form": forms.get("reject_form") or RejectForm(),
        "rollback_error": forms.get("rollback_error", ""),
    }
    return render(request, "projects/deployment.html", context, status=status)


@login_required
@require_GET
def deployment_page(request: HttpRequest, slug: str, deployment_id: int):
    return _deployment_page(request, slug, deployment_id)


def _decide(request, slug, deployment_id, form_class, key, call):
    deployment = get_deployment_for(request.user, deployment_id, need=Role.APPROVER)
    if deployment.project.slug != slug:
        raise Http404("No such deployment.")
    form = form_class(request.POST)
    status = 400
    if form.is_valid():
        try:
            call(deployment, form.cleaned_data)
        except DeploymentConflict as exc:
            form.add_error(None, exc.message_text)
            status = 409
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return redirect(_page_url(deployment))
    return _deployment_page(request, slug, deployment_id, status=status, **{key: form})


@login_required
@require_POST
def deployment_approve_view(request: HttpRequest, slug: str, deployment_id: int):
    def call(deployment, data):
        deployment_approve(deployment=deployment, user=request.user, **data)
        messages.success(request, "Approved: the deployment is live.")

    return _decide(request, slug, deployment_id, ApproveForm, "approve_form", call)


@login_required
@require_POST
def deployment_reject_view(request: HttpRequest, slug: str, deployment_id: int):
    def call(deployment, data):
        deployment_reject(deployment=deployment, user=request.user, **data)
        messages.success(request, "Rejected.")

    return _decide(request, slug, deployment_id, RejectForm, "reject_form", call)


@login_required
@require_POST
def deployment_rollback_view(request: HttpRequest, slug: str, deployment_id: int):
    deployment = get_deployment_for(request.user, deployment_id, need=Role.SCIENTIST)
    if deployment.project.slug != slug:
        raise Http404("No such deployment.")
    try:
        back = deployment_rollback(deployment=deployment, user=request.user)
    except DeploymentConflict as exc:
        return _deployment_page(
            request, slug, deployment_id, status=409, rollback_error=exc.message_text
        )
    messages.success(
        request, f"Rolled back: model v{back.model_version.version} is live again."
    )
    return redirect(_page_url(back))


@login_required
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    """Every pending request the user may decide, across their projects."""
    queue = (
        pending_for(request.user)
        .select_related("project", "endpoint", "model_version", "requested_by")
        .order_by("requested_at")
    )
    return render(request, "projects/approvals.html", {"queue": queue})


@login_required
@require_GET
def audit_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    events = (
        AuditEvent.objects.filter(project=project)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
    page = Paginator(events, AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "projects/audit.html",
        {"project": project, "page": page, "role": project.user_role},
    )


def _members(request, project, form, status=200, remove_error=""):
    context = {
        "project": project,
        "role": project.user_role,
        "members": members_of(project),
        "form": form,
        "is_owner": project.user_role == Role.OWNER,
        "remove_error": remove_error,
    }
    return render(request, "projects/members.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def members_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Everyone reads; the owner adds members and changes roles."""
    need = Role.OWNER if request.method == "POST" else Role.VIEWER
    project = get_project_for(request.user, slug, need=need)
    form = MemberForm(request.POST or None)
    if request.method != "POST":
        return _members(request, project, form)
    if form.is_valid():
        try:
            _member, created = member_add(
                project=project, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            data = form.cleaned_data
            verb = "added as" if created else "is now"
            messages.success(request, f"{data['username']} {verb} {data['role']}.")
            return redirect("projects:members", project.slug)
    return _members(request, project, form, status=400)


@login_required
@require_POST
def member_remove_view(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.OWNER)
    try:
        member_remove(project=project, actor=request.user, user_id=user_id)
    except ValidationError as exc:
        error = " ".join(exc.messages)
        return _members(request, project, MemberForm(), 400, remove_error=error)
    messages.success(request, "Member removed.")
    return redirect("projects:members", project.slug)
