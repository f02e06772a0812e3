from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from projects.models import Project
from projects.selectors import STEP_BY_SLUG, latest_dataset, project_steps
from projects.services.jobs import QueueUnavailable


def render_step(
    request: HttpRequest,
    project: Project,
    step_slug: str,
    template: str,
    context: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render a wizard step page with the stepper beside it."""
    latest = (context or {}).get("latest", None) or latest_dataset(project)
    steps = project_steps(project, latest)
    ctx = {
        "project": project,
        "steps": steps,
        "step": next(s for s in steps if s.slug == step_slug),
        "role": project.user_role,
        "can_run": project.user_role in ("scientist", "owner"),
        "latest": latest,
    }
    ctx.update(context or {})
    return render(request, template, ctx, status=status)


def step_exists(slug: str) -> bool:
    return slug in STEP_BY_SLUG


def submit(form: forms.Form, call: Callable[[dict], Any]) -> tuple[Any, int]:
    """Validate a form and hand its data to a service.

    Returns ``(result, 200)``, or ``(None, status)`` with the errors put on the form
    where the user acted: 400 for invalid input (a service's ValidationError lands
    on the field it names), 503 when the job queue is unavailable.
    """
    if not form.is_valid():
        return None, 400
    try:
        return call(form.cleaned_data), 200
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None, 400
    except QueueUnavailable as exc:
        form.add_error(None, exc.message)
        return None, 503
