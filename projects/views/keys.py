"""A deployment's keys: the page part that shows the predict URL, the curl
example and the keys, and the forms that create (shown once) and revoke them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from projects.access import get_deployment_for, get_deployment_key_for
from projects.models import Role
from projects.services.keys import deployment_key_create, deployment_key_revoke


def _deployment(request: HttpRequest, slug: str, deployment_id: int, need: str):
    deployment = get_deployment_for(request.user, deployment_id, need=need)
    if deployment.project.slug != slug:
        raise Http404("No such deployment.")
    return deployment


def _panel(request, deployment, status: int = 200, **extra) -> HttpResponse:
    # htmx swaps the panel; a plain form post gets the keys page around it.
    template = (
        "projects/_deployment_keys.html"
        if request.htmx
        else "projects/deployment_keys.html"
    )
    context = {"deployment": deployment, "project": deployment.project, **extra}
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def deployment_keys(request: HttpRequest, slug: str, deployment_id: int):
    """GET: the keys page (any member). POST: create a key (scientist, owner)."""
    if request.method == "GET":
        return _panel(request, _deployment(request, slug, deployment_id, Role.VIEWER))
    deployment = _deployment(request, slug, deployment_id, Role.SCIENTIST)
    try:
        key, secret = deployment_key_create(
            deployment=deployment, user=request.user, name=request.POST.get("name", "")
        )
    except ValidationError as exc:
        return _panel(request, deployment, 400, key_error=exc.message_dict["name"][0])
    return _panel(request, deployment, new_key=(key, secret))


@login_required
@require_POST
def deployment_key_revoke_view(
    request: HttpRequest, slug: str, deployment_id: int, key_id: int
):
    deployment = _deployment(request, slug, deployment_id, Role.SCIENTIST)
    key = get_deployment_key_for(request.user, deployment.pk, key_id, Role.SCIENTIST)
    deployment_key_revoke(key=key, user=request.user)
    if request.htmx:
        return _panel(request, deployment)
    return redirect("projects:deployment_keys", slug, deployment.pk)
