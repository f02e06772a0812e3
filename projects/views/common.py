from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from pydantic.fields import PydanticUndefined

from projects.models import Dataset, Project
from projects.selectors import STEP_BY_SLUG, latest_dataset, project_steps
from projects.services.jobs import JobConflict, QueueUnavailable


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
    on the field it names), 409 when a job of the kind is already active on the
    subject, 503 when the job queue is unavailable.
    """
    if not form.is_valid():
        return None, 400
    try:
        return call(form.cleaned_data), 200
    except JobConflict as exc:  # another job of the kind is active on the subject
        form.add_error(None, exc.messages)
        return None, 409
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None, 400
    except QueueUnavailable as exc:
        form.add_error(None, exc.message)
        return None, 503


# ---------------------------------------------------------------------------
# Shared by the editors of recipes (step 3) and feature specs (step 4): both keep
# a JSON document in a hidden field and draw inputs from its pydantic models.
# ---------------------------------------------------------------------------


def model_field_choices(model: type, name: str) -> list[str]:
    """The choices of a ``Literal`` field (or of a list of one), as text."""
    annotation = model.model_fields[name].annotation
    if get_origin(annotation) is Literal:
        return [str(c) for c in get_args(annotation)]
    for arg in get_args(annotation):  # list[Literal[...]], Literal[...] | None
        if get_origin(arg) is Literal:
            return [str(c) for c in get_args(arg)]
    return []


def model_field_default(model: type, name: str) -> Any:
    info = model.model_fields[name]
    if info.default_factory is not None:
        return info.default_factory()
    if info.default is PydanticUndefined:
        return None
    return info.default


def parse_json_object(
    text: str, *, field: str, label: str, needs: str
) -> tuple[Any, dict[str, str]]:
    """The hidden field's JSON object, or ``(None, {field: message})``."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None, {field: f"The {label} could not be read (not valid JSON)."}
    if not isinstance(value, dict):
        return None, {field: f"The {label} must be a JSON object with {needs}."}
    return value, {}


def error_messages(exc: ValidationError) -> dict[str, str]:
    """A service's ValidationError as one message per (dotted) field."""
    return {field: " ".join(errors) for field, errors in exc.message_dict.items()}


def pick_version(
    ready: list[Dataset], wanted: str | None, *, prepared: bool
) -> Dataset | None:
    """The version asked for (``?version=N``), else the latest ready one that is
    prepared (``prepared=True``) or uploaded, else the latest ready one."""
    if wanted:
        chosen = next((d for d in ready if str(d.version) == wanted), None)
        if chosen is not None:
            return chosen
    preferred = [d for d in ready if (d.parent_id is not None) == prepared]
    return (preferred or ready or [None])[0]
