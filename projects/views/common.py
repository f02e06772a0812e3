from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from projects.models import Project
from projects.selectors import STEP_BY_SLUG, latest_dataset, project_steps


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
