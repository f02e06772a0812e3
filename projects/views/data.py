"""Step 2: data collection — upload, versions, the profile, the target."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from projects.access import can, get_project_for
from projects.charts.profile import (
    association_figure,
    column_figure,
    correlation_figure,
    figure_json,
    groups_figure,
    target_figure,
)
from projects.forms import TargetForm, UploadForm
from projects.jobs import kind_label
from projects.models import DatasetStatus, JobStatus, Role
from projects.selectors import dataset_versions, last_project_job, latest_job
from projects.services.datasets import dataset_upload
from projects.services.projects import project_update
from projects.uploads import upload_limit_message
from projects.views.common import render_step, submit

COLUMNS_PER_PAGE = 12


def _chart(fig) -> str | None:
    return figure_json(fig) if fig is not None else None


def _profile_context(request: HttpRequest, dataset, project) -> dict:
    profile = dataset.profile
    if not profile:
        return {}
    page = Paginator(profile["columns"], COLUMNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    columns = [{**col, "chart": _chart(column_figure(col))} for col in page.object_list]
    analysis = dataset.analysis or {}
    target = analysis.get("target")
    analysis_current = bool(analysis) and (
        analysis.get("target_column", "") == project.target_column
        and analysis.get("sensitive_columns", []) == project.sensitive_columns
        and analysis.get("task_type") == project.task_type
    )
    return {
        "profile": profile,
        "columns_page": page,
        "columns": columns,
        "correlation_chart": _chart(correlation_figure(profile)),
        "analysis": analysis,
        "analysis_current": analysis_current,
        "target": target,
        "target_chart": _chart(target_figure(target)) if target else None,
        "association_chart": _chart(association_figure(target)) if target else None,
        "groups": [
            {**group, "chart": _chart(groups_figure(group))}
            for group in analysis.get("groups", [])
        ],
    }


def data_step(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    action = request.POST.get("action") if request.method == "POST" else None
    if request.method == "POST" and not can(request.user, project, Role.SCIENTIST):
        raise PermissionDenied("Only scientists and the owner can change the data.")
    versions = list(dataset_versions(project))
    latest = versions[0] if versions else None

    upload_form = UploadForm()
    status = 200
    if getattr(request, "upload_too_large", False):
        # The handler stopped reading: the form is bound to what arrived, and says
        # why the file is missing.
        upload_form = UploadForm(request.POST, request.FILES)
        upload_form.errors.clear()
        upload_form.add_error("file", upload_limit_message())
        status = 413
    elif action == "upload":
        upload_form = UploadForm(request.POST, request.FILES)
        dataset, status = submit(
            upload_form,
            lambda data: dataset_upload(
                project=project,
                user=request.user,
                path=data["file"].temporary_file_path(),
                filename=data["file"].name,
            )[0],
        )
        if dataset is not None:
            messages.success(
                request,
                f"Received {dataset.original_name} as version {dataset.version}. "
                "It is being read, checked and profiled; it can be used when that "
                "ends.",
            )
            return redirect("projects:step", project.slug, "data")

    selected = latest
    if request.GET.get("version") and versions:
        wanted = request.GET["version"]
        selected = next((d for d in versions if str(d.version) == wanted), latest)
    if selected is not None:
        # The versions list defers the big JSON fields; load them for the one shown.
        selected.refresh_from_db(fields=["profile", "analysis", "schema"])

    target_form = TargetForm(
        request.POST if action == "target" else None,
        columns=(
            selected.column_names
            if selected and selected.status == DatasetStatus.READY
            else []
        ),
        initial={"target_column": project.target_column},
    )
    if action == "target":
        updated, status = submit(
            target_form,
            lambda data: project_update(
                project=project, user=request.user, target_column=data["target_column"]
            ),
        )
        if updated is not None:
            messages.success(
                request, f"Target set to {project.target_column!r}; analysing it now."
            )
            return redirect("projects:step", project.slug, "data")

    job = (
        latest_job("dataset", selected.pk, ("ingest", "profile", "analyze"))
        if selected
        else None
    )
    # A failed upload leaves no version behind; its job still says why.
    ingest = last_project_job(project, "ingest")
    ended_badly = (JobStatus.FAILED, JobStatus.CANCELLED)
    failed_ingest = ingest if ingest and ingest.status in ended_badly else None
    context = {
        "failed_ingest": failed_ingest,
        "failed_ingest_label": kind_label("ingest"),
        "versions": versions,
        "selected": selected,
        "latest": latest,
        "upload_form": upload_form,
        "target_form": target_form,
        "job": job,
        "job_label": kind_label(job.kind) if job else "",
    }
    if selected is not None:
        context.update(_profile_context(request, selected, project))
    return render_step(
        request, project, "data", "projects/step_data.html", context, status=status
    )
