"""Step 9, part 1: register an experiment as a model version, and its page.

The version page renders the model card (its text sections, the metrics against
the threshold, the contract's verdict, the input schema, the lineage and the
reference prediction distribution); scientists and the owner edit the card's
text sections in a form on the same page (errors inline, 400).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from projects.access import can, get_project_for
from projects.charts.profile import figure_json
from projects.charts.registry import prediction_figure
from projects.models import ModelVersion, Project, Role
from projects.selectors import experiment_in_project
from projects.services.registry import (
    CARD_MAX_LENGTH,
    CARD_TEXT_FIELDS,
    model_version_card_update,
    model_version_register,
)
from projects.views.common import error_messages, render_step, submit
from projects.views.experiments import _dashboard

CARD_HELP = {
    "intended_use": "What the model is for, and what it must not be used for.",
    "data": "What it was trained on.",
    "metrics": "How well it does, against the success threshold.",
    "fairness": "How it treats the groups of each sensitive attribute.",
    "limitations": "Where it should not be trusted.",
    "notes": "Anything else a reviewer should know.",
}


class CardForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in CARD_TEXT_FIELDS.items():
            self.fields[name] = forms.CharField(
                label=label,
                required=name == "intended_use",
                max_length=CARD_MAX_LENGTH,
                help_text=CARD_HELP[name],
                widget=forms.Textarea(attrs={"rows": 3}),
            )


def _version_for(project: Project, number: int) -> ModelVersion:
    version = (
        ModelVersion.objects.filter(project=project, version=number)
        .select_related("experiment", "created_by")
        .first()
    )
    if version is None:
        raise Http404("No such model version.")
    return version


def model_version_url(version: ModelVersion) -> str:
    return reverse(
        "projects:model_version", args=[version.project.slug, version.version]
    )


def _page(
    request: HttpRequest,
    project: Project,
    version: ModelVersion,
    form: CardForm | None = None,
    status: int = 200,
) -> HttpResponse:
    card = version.card or {}
    predictions = (version.reference or {}).get("predictions")
    figure = prediction_figure(predictions)
    metric = (version.metrics or {}).get("primary_metric") or project.primary_metric
    context = {
        "version": version,
        "card": card,
        "sections": [
            (name, label, card.get(name, ""))
            for name, label in CARD_TEXT_FIELDS.items()
        ],
        "metric": metric,
        "metric_rows": _metric_rows(version.metrics or {}),
        "columns": (version.schema or {}).get("columns") or [],
        "lineage": version.lineage or {},
        "prediction_chart": figure_json(figure) if figure is not None else None,
        "can_edit": can(request.user, project, Role.SCIENTIST),
        "form": form
        or CardForm(initial={name: card.get(name, "") for name in CARD_TEXT_FIELDS}),
    }
    return render_step(
        request, project, "deployment", "projects/model_version.html", context, status
    )


def _metric_rows(metrics: dict) -> list[dict]:
    names: list[str] = []
    for split in ("validation", "train", "test"):
        for name in metrics.get(split) or {}:
            if name not in names:
                names.append(name)
    primary = metrics.get("primary_metric")
    names.sort(key=lambda n: n != primary)
    baseline = (metrics.get("baseline") or {}).get("validation") or {}
    return [
        {
            "name": name,
            "primary": name == primary,
            "cv": (metrics.get("cv") or {}).get(name),
            "validation": (metrics.get("validation") or {}).get(name),
            "test": (metrics.get("test") or {}).get(name),
            "baseline": baseline.get(name),
        }
        for name in names
    ]


@login_required
@require_GET
def model_version_page(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    return _page(request, project, _version_for(project, version))


@login_required
@require_POST
def model_version_card(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    """Save the card's text sections (scientists and the owner)."""
    project = get_project_for(request.user, slug, need=Role.SCIENTIST)
    found = _version_for(project, version)
    form = CardForm(request.POST)
    _result, status = submit(
        form,
        lambda data: model_version_card_update(
            version=found, user=request.user, fields=data
        ),
    )
    if status != 200:
        return _page(request, project, found, form, status)
    messages.success(request, f"Saved the model card of version {found.version}.")
    return redirect(model_version_url(found) + "#card")


@login_required
@require_POST
def experiment_register(
    request: HttpRequest, slug: str, experiment_id: int
) -> HttpResponse:
    """Register a succeeded experiment; refused ones show why on its dashboard."""
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    experiment = experiment_in_project(project, experiment_id)
    if experiment is None:
        raise Http404("No such experiment.")
    if not can(request.user, project, Role.SCIENTIST):
        raise PermissionDenied("Only scientists and the owner can register a model.")
    try:
        version = model_version_register(
            experiment=experiment,
            user=request.user,
            name=request.POST.get("name", ""),
        )
    except ValidationError as exc:
        return _dashboard(
            request,
            project,
            experiment,
            {"register_error": " ".join(error_messages(exc).values())},
            status=400,
        )
    messages.success(
        request,
        f"Registered experiment #{experiment.pk} as model version {version.version}.",
    )
    return redirect(model_version_url(version))
