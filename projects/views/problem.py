"""Step 1: problem definition (the success contract) and sensitive attributes."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from projects.access import can, get_project_for
from projects.forms import ProjectForm, SensitiveColumnsForm
from projects.models import DatasetStatus, Project, Role
from projects.services.projects import project_update
from projects.views.common import render_step, submit


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
        saved, status = submit(
            form,
            lambda data: project_update(project=project, user=request.user, **data),
        )
        if saved is not None:
            messages.success(request, "Problem definition saved.")
            return redirect("projects:step", project.slug, "problem")
    elif action == "sensitive":
        saved, status = submit(
            sensitive_form,
            lambda data: project_update(
                project=project,
                user=request.user,
                sensitive_columns=data["sensitive_columns"],
            ),
        )
        if saved is not None:
            messages.success(
                request,
                "Sensitive attributes saved; their group sizes are on the data page.",
            )
            return redirect("projects:step", project.slug, "problem")
    return render_step(
        request,
        project,
        "problem",
        "projects/step_problem.html",
        {"form": form, "sensitive_form": sensitive_form, "has_data": bool(columns)},
        status=status,
    )
