from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from projects.access import get_project_for
from projects.forms import ProjectForm
from projects.models import Role
from projects.selectors import latest_dataset, project_steps, projects_for_list
from projects.services.projects import project_create
from projects.views import (
    data,
    deployments,
    evaluation,
    features,
    prepare,
    problem,
    selection,
    training,
    tuning,
)
from projects.views.common import render_step, step_exists, submit


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = projects_for_list(request.user)
    return render(request, "projects/list.html", {"projects": projects})


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    status = 200
    if request.method == "POST":
        project, status = submit(
            form, lambda data: project_create(user=request.user, **data)
        )
        if project is not None:
            return redirect("projects:step", project.slug, "data")
    return render(request, "projects/new.html", {"form": form}, status=status)


@login_required
@require_GET
def project_home(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    steps = project_steps(project, latest_dataset(project))
    current = next((s for s in steps if s.state == "current"), steps[1])
    return redirect("projects:step", project.slug, current.slug)


@login_required
@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, slug: str, step_slug: str) -> HttpResponse:
    if not step_exists(step_slug):
        raise Http404("No such step.")
    if step_slug == "problem":
        return problem.problem_step(request, slug)
    if step_slug == "data":
        return data.data_step(request, slug)
    if step_slug == "prepare":
        return prepare.prepare_step(request, slug)
    if step_slug == "features":
        return features.features_step(request, slug)
    if step_slug == "models":
        return selection.models_step(request, slug)
    if step_slug == "training":
        return training.training_step(request, slug)
    if step_slug == "evaluation":
        return evaluation.evaluation_step(request, slug)
    if step_slug == "tuning":
        return tuning.tuning_step(request, slug)
    if step_slug == "deployment":
        return deployments.deployment_step(request, slug)
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    if request.method == "POST":
        return HttpResponse("This step takes no input yet.", status=405)
    return render_step(request, project, step_slug, "projects/step_planned.html")


# The data step shows the upload limit message inline (see UploadTooLargeMiddleware).
step.handles_upload_too_large = True
