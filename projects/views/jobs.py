"""The job-status fragment that pages poll, and cancel / retry."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from projects.access import can, get_job_for
from projects.jobs import kind_label
from projects.models import Role
from projects.services.jobs import (
    QueueUnavailable,
    job_cancel,
    job_retry,
)


def _back(request: HttpRequest, job) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = f"/projects/{job.project.slug}/"
    return redirect(target)


@login_required
@require_GET
def job_status(request: HttpRequest, job_id) -> HttpResponse:
    job = get_job_for(request.user, job_id, need=Role.VIEWER)
    response = render(
        request,
        "projects/_job_status.html",
        {
            "job": job,
            "label": kind_label(job.kind),
            "project": job.project,
            "next": request.GET.get("next", ""),
            "can_run": can(request.user, job.project, Role.SCIENTIST),
        },
    )
    # The page under a poll that just saw its job end reloads to show the result.
    if request.htmx and not job.is_active and request.GET.get("poll"):
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, job_id) -> HttpResponse:
    job = get_job_for(request.user, job_id, need=Role.SCIENTIST)
    job_cancel(job=job, user=request.user)
    messages.info(request, "Cancel requested.")
    return _back(request, job)


@login_required
@require_POST
def job_retry_view(request: HttpRequest, job_id) -> HttpResponse:
    job = get_job_for(request.user, job_id, need=Role.SCIENTIST)
    try:
        job_retry(job=job, user=request.user)
    except QueueUnavailable as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:  # the retry rule, or another start won
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Started again.")
    return _back(request, job)
