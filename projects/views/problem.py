"""Step 1: problem definition (the success contract) and sensitive attributes."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from projects.access import can, get_project_for
from projects.forms import ProjectForm, SensitiveColumnsForm
from projects.models import DatasetStatus, Project, Role
from projects.services.jobs import QueueUnavailable
from projects.services.projects import project_update
from projects.views.common import render_step


def _apply_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def problem_step(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    ready = project.datasets.filter(status=DatasetStatus.READY).order_by("-version")
    latest_ready = ready.first()
    columns = latest_ready.column_names if latest_ready else []
    action = request.POST.get("action") if request.method == "POST" else None
    if request.method == "POST" and not can(request.user, project, Role.SCIENTIST):
        raise PermissionDenied("Only scientists and the owner can change the problem.")

    # A copy: validating a ModelForm writes the input onto its instance, and the
    # service must compare against (and the page show) what is stored.
    form = ProjectForm(
        request.POST if action == "problem" else None,
        instance=Project.objects.get(pk=project.pk),
    )
    sensitive_form = SensitiveColumnsForm(
        request.POST if action == "sensitive" else None,
        columns=columns,
        target=project.target_column,
        initial={"sensitive_columns": project.sensitive_columns},
    )
    status = 200
    if action == "problem":
        if form.is_valid():
            try:
                project_update(project=project, user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _apply_errors(form, exc)
            except QueueUnavailable as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Problem definition saved.")
                return redirect("projects:step", project.slug, "problem")
        status = 400
    elif action == "sensitive":
        if sensitive_form.is_valid():
            try:
                project_update(
                    project=project,
                    user=request.user,
                    sensitive_columns=sensitive_form.cleaned_data["sensitive_columns"],
                )
            except ValidationError as exc:
                _apply_errors(sensitive_form, exc)
            except QueueUnavailable as exc:
                sensitive_form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    "Sensitive attributes saved; their group sizes are on the data "
                    "page.",
                )
                return redirect("projects:step", project.slug, "problem")
        status = 400
    return render_step(
        request,
        project,
        "problem",
        "projects/step_problem.html",
        {"form": form, "sensitive_form": sensitive_form, "has_data": bool(columns)},
        status=status,
    )
