"""Step 5: model selection — pick candidates from the catalog and start training.

The page lists the catalog of the project's task for one prepared version, with
the suggested short list ticked and each suggestion's reason. Every ticked
candidate shows its parameters as inputs drawn from the catalog's schemas, an
optional feature-spec override and the cross-validation folds. Submitting
creates one experiment per candidate in ONE transaction: if any candidate is
refused, nothing is created and the error sits on the field it names
(``params.<name>``, ``features``). The baseline is not a choice: the service
trains it next to the first candidate of a version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from projects.access import can, get_project_for
from projects.models import Dataset, DatasetStatus, Experiment, Role
from projects.selectors import dataset_versions, project_steps
from projects.services.experiments import experiment_create, project_catalog
from projects.services.jobs import QueueUnavailable
from projects.views.common import error_messages, render_step

DEFAULT_FOLDS = 5


@dataclass
class ParamInput:
    """One parameter of one candidate, as an input (or read-only text)."""

    name: str
    kind: str  # int | float | choice | bool
    help: str
    value: str = ""
    checked: bool = False
    low: float | None = None
    high: float | None = None
    nullable: bool = False
    choices: list[str] = field(default_factory=list)
    default: str = ""
    error: str = ""

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def range_text(self) -> str:
        if self.kind not in ("int", "float") or self.low is None:
            return ""
        return f"{_number(self.low)} to {_number(self.high)}"

    @property
    def step(self) -> str:
        return "1" if self.kind == "int" else "any"


@dataclass
class Candidate:
    key: str
    label: str
    description: str
    fits: str
    note: str
    params: list[ParamInput]
    reason: str = ""  # why it is on the suggested short list
    checked: bool = False
    features: str = ""  # the override as typed (empty = project default)
    features_error: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def suggested(self) -> bool:
        return bool(self.reason)

    @property
    def has_error(self) -> bool:
        return bool(self.errors or self.features_error) or any(
            p.error for p in self.params
        )


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    return f"{value:g}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def param_field(key: str, name: str) -> str:
    """The form field of a candidate's parameter: ``p.<algorithm>.<param>``."""
    return f"p.{key}.{name}"


def features_field(key: str) -> str:
    return f"f.{key}"


def _param_input(schema: dict, posted: Any = None) -> ParamInput:
    view = ParamInput(
        name=schema["name"],
        kind=schema["type"],
        help=schema.get("help", ""),
        low=schema.get("min"),
        high=schema.get("max"),
        nullable=bool(schema.get("nullable")),
        choices=[str(c) for c in schema.get("choices", [])],
        default=_text(schema.get("default")),
    )
    if view.kind == "bool":
        view.checked = (
            bool(schema.get("default")) if posted is None else posted == "true"
        )
    else:
        view.value = view.default if posted is None else str(posted)
    return view


def _parse(param: ParamInput, raw: str | None) -> Any:
    """A posted value as the catalog expects it. Text that is not a number is
    passed on as it is, so the catalog's check names the field and says why."""
    if param.kind == "bool":
        return raw == "true"
    text = (raw or "").strip()
    if param.kind == "choice":
        return text
    if text == "":
        return None  # the catalog refuses it unless the parameter is nullable
    try:
        return int(text) if param.kind == "int" else float(text)
    except ValueError:
        pass
    try:
        return float(text)  # "3.5" for an int: the catalog says "a whole number"
    except ValueError:
        return text


def _inline(message: str, path: str) -> str:
    """A message shown beside its field need not repeat the field's path."""
    prefix = f"{path}: "
    if message.startswith(prefix):
        rest = message[len(prefix) :]
        return rest[:1].upper() + rest[1:]
    return message


def candidates_for(
    catalog: dict, posted: dict | None = None, ticked: list[str] | None = None
) -> list[Candidate]:
    """The catalog's entries (the baseline aside) as candidates: the suggested
    ones ticked, or what was posted."""
    reasons = {s["key"]: s["reason"] for s in catalog["suggested"]}
    if ticked is None:
        ticked = list(reasons)
    candidates = []
    for entry in catalog["algorithms"]:
        if entry["baseline"]:
            continue
        key = entry["key"]
        params = []
        for schema in entry["params"]:
            raw = None
            if posted is not None:
                name = param_field(key, schema["name"])
                if schema["type"] == "bool":
                    raw = "true" if posted.get(name) else "false"
                else:
                    raw = posted.get(name)  # absent: the default
            params.append(_param_input(schema, raw))
        candidates.append(
            Candidate(
                key=key,
                label=entry["label"],
                description=entry["description"],
                fits=entry["fits"],
                note=entry["note"],
                params=params,
                reason=reasons.get(key, ""),
                checked=key in ticked,
                features=(posted or {}).get(features_field(key), ""),
            )
        )
    return candidates


def _place_errors(candidate: Candidate, errors: dict[str, str]) -> list[str]:
    """Put a service's errors on the candidate's fields; returns the page-wide
    ones (the version, the folds)."""
    general = []
    by_name = {p.name: p for p in candidate.params}
    for key, message in errors.items():
        if key.startswith("params."):
            name = key.removeprefix("params.")
            if name in by_name:
                by_name[name].error = _inline(message, key)
                continue
        if key == "features" or key.startswith("features."):
            candidate.features_error = message
            continue
        if key in ("dataset_id", "cv_folds"):
            general.append(message)
            continue
        candidate.errors.append(message)
    return general


class _Refused(Exception):
    """Some candidate was refused: roll back the ones created before it."""


def _create_all(
    *,
    project,
    dataset: Dataset,
    candidates: list[Candidate],
    cv_folds: int,
    user,
) -> tuple[list[Experiment], list[str]]:
    """One experiment per ticked candidate, all or none. Every candidate is
    checked (so every error shows at once) before the transaction is left."""
    created: list[Experiment] = []
    general: list[str] = []
    try:
        with transaction.atomic():
            for candidate in candidates:
                if not candidate.checked:
                    continue
                params = {p.name: _parse(p, _raw(p)) for p in candidate.params}
                features = None
                if candidate.features.strip():
                    try:
                        features = json.loads(candidate.features)
                    except ValueError:
                        candidate.features_error = (
                            "The feature spec could not be read (not valid JSON)."
                        )
                        features = None  # its parameters are still checked
                    if features is not None and not isinstance(features, dict):
                        candidate.features_error = (
                            "The feature spec must be a JSON object with columns."
                        )
                        features = None
                try:
                    created.append(
                        experiment_create(
                            project=project,
                            dataset=dataset,
                            algorithm=candidate.key,
                            params=params,
                            features=features,
                            cv_folds=cv_folds,
                            user=user,
                        )
                    )
                except ValidationError as exc:
                    for message in _place_errors(candidate, error_messages(exc)):
                        if message not in general:
                            general.append(message)
            if general or any(c.has_error for c in candidates):
                raise _Refused
    except _Refused:
        return [], general
    return created, general


def _raw(param: ParamInput) -> str | None:
    if param.kind == "bool":
        return "true" if param.checked else "false"
    return param.value


def _prepared(versions: list[Dataset]) -> list[Dataset]:
    return [
        d
        for d in versions
        if d.parent_id is not None and d.status == DatasetStatus.READY and d.split
    ]


def _folds(raw: str | None) -> tuple[int | None, str]:
    text = (raw or "").strip()
    if text == "":
        return DEFAULT_FOLDS, ""
    try:
        folds = int(text)
    except ValueError:
        return None, "Give a whole number: 0 (no cross-validation) or 2-20."
    if not 0 <= folds <= 20 or folds == 1:
        return None, "Give 0 (no cross-validation) or 2-20."
    return folds, ""


def _baseline_state(project, dataset: Dataset, baseline_key: str | None) -> str:
    """Whether the version already has its baseline (then it is not retrained)."""
    if baseline_key is None:
        return "none"
    exists = (
        Experiment.objects.filter(project=project, dataset=dataset, is_baseline=True)
        .exclude(status__in=[Experiment.Status.FAILED, Experiment.Status.CANCELLED])
        .exists()
    )
    return "exists" if exists else "new"


def models_step(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    if request.method == "POST" and not can(request.user, project, Role.SCIENTIST):
        raise PermissionDenied("Only scientists and the owner can start training.")
    versions = list(dataset_versions(project))
    latest = versions[0] if versions else None
    prepared = _prepared(versions)
    if not prepared:
        if request.method == "POST":
            return HttpResponse(
                "This step waits for a prepared version (step 3).", status=409
            )
        steps = project_steps(project, latest)
        prepare = next(s for s in steps if s.slug == "prepare")
        return render_step(
            request,
            project,
            "models",
            "projects/step_models.html",
            {"latest": latest, "waiting": True, "prepare_step": prepare},
        )

    params = request.POST if request.method == "POST" else request.GET
    wanted = params.get("version")
    source = next((d for d in prepared if str(d.version) == wanted), prepared[0])
    general: list[str] = []
    if request.method == "POST" and wanted and str(source.version) != wanted:
        # A version that is not (yet) a ready prepared one: the service says why.
        chosen = next((d for d in versions if str(d.version) == wanted), None)
        if chosen is None:
            general.append(f"There is no version {wanted} in this project.")
        else:
            source = chosen
    source.refresh_from_db(fields=["profile"])
    catalog = project_catalog(project=project, dataset=source)
    baseline_state = _baseline_state(project, source, catalog["baseline"])
    status = 200
    folds_value = str(DEFAULT_FOLDS)
    folds_error = ""
    if request.method == "POST":
        base_key = catalog["baseline"]
        ticked = [k for k in request.POST.getlist("algorithms") if k != base_key]
        known = {e["key"] for e in catalog["algorithms"]}
        candidates = candidates_for(catalog, request.POST, ticked)
        for key in ticked:
            if key not in known:
                general.append(
                    f"{key!r} is not a {project.task_type} algorithm of the catalog."
                )
        folds_value = request.POST.get("cv_folds", "")
        cv_folds, folds_error = _folds(folds_value)
        if not ticked:
            general.append("Tick at least one candidate to train.")
        if not general and not folds_error:
            try:
                created, refused = _create_all(
                    project=project,
                    dataset=source,
                    candidates=candidates,
                    cv_folds=cv_folds,
                    user=request.user,
                )
            except QueueUnavailable as exc:
                general.append(exc.message)
                status = 503
            else:
                general.extend(refused)
                if created:
                    n = len(created)
                    extra = " plus the baseline" if baseline_state == "new" else ""
                    messages.success(
                        request,
                        f"Training {n} candidate{'s' if n != 1 else ''}{extra} on "
                        f"version {source.version}: each one is a job on the "
                        "training queue.",
                    )
                    return redirect("projects:step", project.slug, "training")
        if status == 200:
            status = 400
        if source not in prepared:
            # Refused for its version: show the page for a prepared one.
            source = prepared[0]
            source.refresh_from_db(fields=["profile"])
            catalog = project_catalog(project=project, dataset=source)
            candidates = candidates_for(catalog, request.POST, ticked)
            baseline_state = _baseline_state(project, source, catalog["baseline"])
    else:
        candidates = candidates_for(catalog)

    context = {
        "latest": latest,
        "prepared_versions": prepared,
        "source": source,
        "catalog": catalog,
        "candidates": candidates,
        "n_checked": sum(1 for c in candidates if c.checked),
        "baseline": next((e for e in catalog["algorithms"] if e["baseline"]), None),
        "baseline_state": baseline_state,
        "general_errors": general,
        "cv_folds": folds_value,
        "folds_error": folds_error,
        "has_default_spec": bool(project.feature_spec),
        "train_rows": (source.split or {}).get("counts", {}).get("train"),
    }
    return render_step(
        request, project, "models", "projects/step_models.html", context, status
    )
