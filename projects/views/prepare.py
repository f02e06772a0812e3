"""Step 3: cleaning & preparation — edit the suggested recipe, preview, split, apply.

The recipe travels as one JSON document in a hidden field that static/js/recipe.js
keeps in step with the editor; the server renders the editor from that JSON, so a
preview or a refused apply shows every step as the user left it, with the error
next to the step and parameter it names (``steps.<i>.<param>``).
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from projects.access import can, get_project_for
from projects.charts.preparation import split_balance_figure
from projects.charts.profile import figure_json
from projects.jobs import kind_label
from projects.ml import cleaning
from projects.ml.cleaning import OPS
from projects.models import Dataset, DatasetStatus, Role, TaskType
from projects.selectors import dataset_versions, latest_job, project_steps
from projects.services.jobs import QueueUnavailable
from projects.services.preparation import (
    PREVIEW_ROWS,
    SPLIT_COLUMN,
    dataset_prepare,
    dataset_preview,
    dataset_suggested_recipe,
    stored_kinds,
)
from projects.views.common import (
    error_messages,
    model_field_choices,
    model_field_default,
    parse_json_object,
    pick_version,
    render_step,
)

SPLITS = ("train", "validation", "test")

# How the editor shows each parameter of each op. The values (choices, defaults)
# come from the pydantic models in projects.ml.cleaning; a test checks that this
# table names every parameter of every op, so a new one cannot be forgotten.
#   column: a select of the input's columns     columns: comma-separated columns
#   list / numbers: comma-separated text / numbers    select: the Literal's choices
#   number, text, checkbox    json: a JSON object (merge groups, value maps)
#   value: one value, or comma-separated values for "in" / "not in" filters
PARAMS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "drop_columns": (("columns", "columns", "Columns"),),
    "missing_tokens": (
        ("columns", "columns", "Columns"),
        ("tokens", "list", "Placeholder texts"),
        ("numbers", "numbers", "Placeholder numbers"),
    ),
    "impute": (
        ("column", "column", "Column"),
        ("strategy", "select", "Strategy"),
        ("value", "value", "Constant value"),
        ("add_indicator", "checkbox", "Add a was-missing column"),
    ),
    "deduplicate": (
        ("key", "columns", "Key columns (empty: whole row)"),
        ("keep", "select", "Keep"),
    ),
    "trim_whitespace": (("columns", "columns", "Columns"),),
    "unify_case": (("columns", "columns", "Columns"), ("case", "select", "Case")),
    "merge_categories": (
        ("column", "column", "Column"),
        ("groups", "json", "Groups (kept value: [variants])"),
    ),
    "map_values": (
        ("column", "column", "Column"),
        ("mapping", "json", "Mapping (old: new)"),
    ),
    "to_number": (("column", "column", "Column"), ("percent", "select", "Percent")),
    "parse_dates": (
        ("column", "column", "Column"),
        ("format", "text", "Format (empty: detect)"),
    ),
    "outliers": (
        ("column", "column", "Column"),
        ("method", "select", "Method"),
        ("k", "number", "IQR k"),
        ("lower", "number", "Lower percentile"),
        ("upper", "number", "Upper percentile"),
        ("action", "select", "Action"),
    ),
    "rare_categories": (
        ("column", "column", "Column"),
        ("min_share", "number", "Minimum share"),
        ("other", "text", "Group name"),
    ),
    "filter_rows": (
        ("column", "column", "Keep rows where column"),
        ("operator", "select", "Operator"),
        ("value", "value", "Value(s)"),
    ),
}
COMMON_FIELDS = frozenset({"op", "enabled", "reason", "fitted"})
OPERATOR_LABELS = {
    "eq": "=",
    "ne": "≠",
    "lt": "<",
    "le": "≤",
    "gt": ">",
    "ge": "≥",
    "in": "is one of",
    "not_in": "is not one of",
    "is_missing": "is missing",
    "not_missing": "is not missing",
}


def _models() -> dict[str, type]:
    step_union = typing.get_args(cleaning.Recipe.model_fields["steps"].annotation)[0]
    members = typing.get_args(typing.get_args(step_union)[0])
    return {typing.get_args(m.model_fields["op"].annotation)[0]: m for m in members}


MODELS = _models()


# ---------------------------------------------------------------------------
# The editor: a recipe (as JSON data) shown as a list of steps
# ---------------------------------------------------------------------------


@dataclass
class ParamView:
    name: str
    widget: str
    label: str
    value: str = ""
    checked: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""
    optional: bool = False

    @property
    def display(self) -> str:
        """The value as a reader sees it (no form controls)."""
        if self.widget == "checkbox":
            return "yes" if self.checked else "no"
        if self.choices:
            return dict(self.choices).get(self.value, self.value)
        return self.value


@dataclass
class StepView:
    op: str
    label: str
    reason: str
    enabled: bool
    params: list[ParamView]
    errors: list[str] = field(default_factory=list)
    known: bool = True
    raw: str = ""

    @property
    def has_error(self) -> bool:
        return any(p.error for p in self.params)


def _text(widget: str, value: Any) -> str:
    if value is None:
        return ""
    if widget in ("columns", "list", "numbers") or (
        widget == "value" and isinstance(value, list)
    ):
        if isinstance(value, list):
            # An empty text (a placeholder token) is written "" so it survives.
            return ", ".join(_scalar(v) if v != "" else '""' for v in value)
        return str(value)
    if widget == "json":
        if isinstance(value, str):
            return value  # what the user typed, not valid JSON: shown back as is
        return json.dumps(value, indent=1, ensure_ascii=False)
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return "" if value is None else str(value)


def _param_view(op: str, spec: tuple[str, str, str], raw: dict, columns) -> ParamView:
    name, widget, label = spec
    default = model_field_default(MODELS[op], name)
    value = raw.get(name, default)
    view = ParamView(name=name, widget=widget, label=label, optional=default is None)
    if widget == "checkbox":
        view.checked = bool(value)
    elif widget == "select":
        choices = model_field_choices(MODELS[op], name)
        labels = OPERATOR_LABELS if name == "operator" else {}
        view.choices = [(c, labels.get(c, c.replace("_", " "))) for c in choices]
        view.value = str(value if value is not None else choices[0])
    elif widget == "column":
        view.value = "" if value is None else str(value)
        names = list(columns)
        if view.value and view.value not in columns:
            names.append(view.value)
        view.choices = [("", "— choose —")] + [
            (c, f"{c} ({columns[c]})" if c in columns else c) for c in names
        ]
    else:
        view.value = _text(widget, value)
    return view


def _field_errors(errors: dict[str, str]) -> tuple[dict[int, dict[str, str]], list]:
    """Split ``steps.<i>.<param>...`` errors by step; the rest are recipe-wide."""
    by_step: dict[int, dict[str, str]] = {}
    general: list[str] = []
    for key, message in errors.items():
        parts = key.split(".")
        if len(parts) >= 2 and parts[0] == "steps" and parts[1].isdigit():
            param = parts[2] if len(parts) > 2 else ""
            by_step.setdefault(int(parts[1]), {})[param] = message
        else:
            general.append(message)
    return by_step, general


def editor_steps(
    recipe: Any, columns: dict[str, str], errors: dict[str, str] | None = None
) -> tuple[list[StepView], list[str]]:
    """The recipe's steps as the editor shows them, errors placed on their step."""
    by_step, general = _field_errors(errors or {})
    raw_steps = recipe.get("steps") if isinstance(recipe, dict) else None
    if not isinstance(raw_steps, list):
        return [], general
    views = []
    for i, raw in enumerate(raw_steps):
        raw = raw if isinstance(raw, dict) else {}
        op = raw.get("op")
        step_errors = dict(by_step.get(i, {}))
        if op not in PARAMS:
            views.append(
                StepView(
                    op=str(op),
                    label=f"Unknown step {op!r}",
                    reason="",
                    enabled=bool(raw.get("enabled", True)),
                    params=[],
                    errors=list(step_errors.values()),
                    known=False,
                    raw=json.dumps(raw, ensure_ascii=False),
                )
            )
            continue
        params = [_param_view(op, spec, raw, columns) for spec in PARAMS[op]]
        for param in params:
            if param.name in step_errors:
                param.error = step_errors.pop(param.name)
        views.append(
            StepView(
                op=op,
                label=OPS[op],
                reason=str(raw.get("reason") or ""),
                enabled=raw.get("enabled", True) is not False,
                params=params,
                errors=list(step_errors.values()),
            )
        )
    return views, general


def new_step_templates(columns: dict[str, str]) -> list[StepView]:
    """One blank step per op, for the "Add step" control to copy."""
    return [
        StepView(
            op=op,
            label=label,
            reason="",
            enabled=True,
            params=[_param_view(op, spec, {}, columns) for spec in PARAMS[op]],
        )
        for op, label in OPS.items()
    ]


# ---------------------------------------------------------------------------
# The split form
# ---------------------------------------------------------------------------


class SplitForm(forms.Form):
    train = forms.FloatField(label="Train", min_value=0, max_value=1, initial=0.7)
    validation = forms.FloatField(
        label="Validation", min_value=0, max_value=1, initial=0.15
    )
    test = forms.FloatField(label="Test", min_value=0, max_value=1, initial=0.15)
    seed = forms.IntegerField(
        label="Random seed",
        initial=42,
        min_value=0,
        help_text="The same seed and data give the same split.",
    )
    stratify = forms.BooleanField(
        label="Stratify by the target",
        required=False,
        help_text="Keep the class shares the same in every split.",
    )
    group_column = forms.ChoiceField(
        label="Group column",
        required=False,
        help_text="Rows with the same value stay in the same split (e.g. a "
        "customer id).",
    )
    time_column = forms.ChoiceField(
        label="Time column",
        required=False,
        help_text="Oldest rows train, newest rows test: no peeking into the future.",
    )

    def __init__(self, *args, columns: list[str], stratify: bool, **kwargs):
        kwargs.setdefault("prefix", "split")
        super().__init__(*args, **kwargs)
        choices = [("", "— none —")] + [(c, c) for c in columns]
        self.fields["group_column"].choices = choices
        self.fields["time_column"].choices = choices
        self.fields["stratify"].initial = stratify
        for name in ("train", "validation", "test"):
            self.fields[name].widget.attrs["step"] = "0.05"

    def spec(self) -> dict:
        data = dict(self.cleaned_data)
        for name in ("group_column", "time_column"):
            data[name] = data.get(name) or None
        return data


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def _strip(errors: dict[str, str], prefix: str) -> dict[str, str]:
    """The errors under ``prefix``, keyed without it (``prefix`` alone stays)."""
    return {
        key.removeprefix(prefix + "."): message
        for key, message in errors.items()
        if key == prefix or key.startswith(prefix + ".")
    }


def _recipe_errors(errors: dict[str, str]) -> dict[str, str]:
    """Errors for the editor: ``recipe.steps.2.column`` -> ``steps.2.column``."""
    return {key.removeprefix("recipe."): message for key, message in errors.items()}


def _editable(recipe: dict) -> dict:
    """A stored recipe without what its steps learned: applying it learns again."""
    steps = [
        {k: v for k, v in step.items() if k != "fitted"}
        for step in recipe.get("steps") or []
    ]
    return {"version": 1, "steps": steps}


def _split_initial(prepared: Dataset | None) -> dict:
    spec = ((prepared.split or {}).get("spec") or {}) if prepared else {}
    return {k: v for k, v in spec.items() if v is not None}


def _columns(dataset: Dataset) -> dict[str, str]:
    kinds = stored_kinds(dataset.profile or {"columns": []})
    return {c: kinds.get(c, "") for c in dataset.column_names if c != SPLIT_COLUMN}


def _editor_context(
    recipe: Any, columns: dict[str, str], errors: dict[str, str] | None = None
) -> dict:
    steps, general = editor_steps(recipe, columns, errors)
    return {
        "recipe_json": json.dumps(recipe if recipe is not None else {"steps": []}),
        "editor_steps": steps,
        "recipe_errors": general,
    }


def _cell(value: str | None) -> str | None:
    """A preview cell for people: 22117.260000000002 reads 22117.26."""
    if value is None or len(value) < 12:
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.10g}" if "." in value else value


def _sample(sample: dict) -> dict:
    """The preview's sample rows as the template walks them."""
    added = set(sample.get("added") or [])
    columns = [{"name": c, "added": c in added} for c in sample["columns"]]
    return {
        "columns": columns,
        "rows": [
            {
                "number": number,
                "cells": [
                    {"value": _cell(value), "changed": changed, "added": col["added"]}
                    for value, changed, col in zip(values, flags, columns, strict=False)
                ],
            }
            for number, values, flags in zip(
                sample["row_numbers"], sample["rows"], sample["changed"], strict=False
            )
        ],
    }


def _split_rows(split: dict, target: str) -> dict:
    counts = split.get("counts") or {}
    total = sum(counts.get(s) or 0 for s in SPLITS)
    rows = [
        {
            "name": s,
            "count": counts.get(s) or 0,
            "share": (counts.get(s) or 0) / total if total else 0.0,
        }
        for s in SPLITS
    ]
    fig = split_balance_figure(split)
    return {
        "rows": rows,
        "total": total,
        "warnings": [w.get("message", "") for w in split.get("warnings") or []],
        "balance_chart": figure_json(fig) if fig is not None else None,
        "balance_table": [
            {"value": item["value"], "cells": [item["shares"].get(s) for s in SPLITS]}
            for item in split.get("class_balance") or []
        ],
        "classes": split.get("classes"),
        "spec": split.get("spec") or {},
        "method": split.get("method", ""),
        "target": target,
    }


def _result_context(prepared: Dataset | None, project) -> dict:
    if prepared is None:
        return {}
    job = latest_job("dataset", prepared.pk, ("prepare",))
    context = {
        "prepared": prepared,
        "prepared_job": job,
        "prepared_job_label": kind_label(job.kind) if job else "",
    }
    if prepared.status == DatasetStatus.READY:
        parent = prepared.parent
        context["rows_removed"] = (parent.n_rows - prepared.n_rows) if parent else 0
        context["split"] = _split_rows(prepared.split or {}, project.target_column)
    return context


def _versions_context(request: HttpRequest, project, versions: list[Dataset]) -> dict:
    """The prepared versions, and the one shown in full (``?prepared=N``)."""
    prepared = [d for d in versions if d.parent_id is not None]
    by_pk = {d.pk: d for d in versions}
    for d in prepared:
        d.parent_version = by_pk[d.parent_id].version if d.parent_id in by_pk else None
    wanted = request.GET.get("prepared")
    shown = next(
        (d for d in prepared if str(d.version) == wanted),
        prepared[0] if prepared else None,
    )
    if shown is not None:
        shown = (
            Dataset.objects.select_related("parent", "created_by")
            .defer("profile", "analysis", "parent__profile", "parent__analysis")
            .get(pk=shown.pk)
        )
    return {"prepared_versions": prepared, **_result_context(shown, project)}


def _last_applied(versions: list[Dataset], source: Dataset) -> Dataset | None:
    """The latest version prepared from ``source`` (not failed), if any."""
    return next(
        (
            d
            for d in versions
            if d.parent_id == source.pk
            and d.status != DatasetStatus.FAILED
            and d.recipe
        ),
        None,
    )


def _starting_recipe(source: Dataset, previous: Dataset | None) -> tuple[Any, dict]:
    if previous is not None:
        return _editable(previous.recipe), {}
    try:
        return dataset_suggested_recipe(dataset=source), {}
    except ValidationError as exc:
        return {"version": 1, "steps": []}, error_messages(exc)


def _apply(request, source: Dataset, recipe: Any, split_form: SplitForm):
    """Start the preparation job; returns the new version, or None with the
    recipe's errors (the split's are put on the form) and the status."""
    if not split_form.is_valid():
        return None, {}, 400
    try:
        prepared, _job = dataset_prepare(
            dataset=source, user=request.user, recipe=recipe, split=split_form.spec()
        )
    except QueueUnavailable as exc:
        split_form.add_error(None, exc.message)
        return None, {}, 503
    except ValidationError as exc:
        errors = error_messages(exc)
    else:
        return prepared, {}, 200
    for key, message in _strip(errors, "split").items():
        name = key.rsplit(".", 1)[-1]
        split_form.add_error(name if name in split_form.fields else None, message)
    # The split checks the target: say so beside the split.
    for key in ("target", "task_type"):
        if key in errors:
            split_form.add_error(None, errors[key])
    rest = {
        k: v
        for k, v in errors.items()
        if not k.startswith("split") and k not in ("target", "task_type")
    }
    return None, _recipe_errors(rest), 400


def prepare_step(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    if request.method == "POST" and not can(request.user, project, Role.SCIENTIST):
        raise PermissionDenied("Only scientists and the owner can prepare data.")
    versions = list(dataset_versions(project))
    latest = versions[0] if versions else None
    state = next(s for s in project_steps(project, latest) if s.slug == "prepare")
    if state.state == "waiting":
        if request.method == "POST":
            return HttpResponse(f"This step waits for {state.waits_for}.", status=409)
        return render_step(
            request,
            project,
            "prepare",
            "projects/step_planned.html",
            {"latest": latest},
        )

    params = request.POST if request.method == "POST" else request.GET
    action = request.POST.get("action") if request.method == "POST" else None
    ready = [d for d in versions if d.status == DatasetStatus.READY]
    source = pick_version(ready, params.get("version"), prepared=False)
    source.refresh_from_db(fields=["profile", "schema"])
    columns = _columns(source)
    # Editing starts from the recipe last applied to this input (iterating on it
    # is the common case), or from the suggestion when there is none.
    previous = None
    if action is None and not params.get("suggested"):
        previous = _last_applied(versions, source)
    split_form = SplitForm(
        request.POST if action == "apply" else None,
        columns=list(columns),
        stratify=project.task_type == TaskType.CLASSIFICATION,
        initial=_split_initial(previous),
    )
    if action in ("preview", "apply"):
        recipe, errors = parse_json_object(
            request.POST.get("recipe", ""),
            field="recipe",
            label="recipe",
            needs="steps",
        )
    else:
        recipe, errors = _starting_recipe(source, previous)
    status = 400 if errors else 200
    preview = None
    if action == "preview" and not errors:
        try:
            preview = dataset_preview(dataset=source, recipe=recipe)
        except ValidationError as exc:
            errors = _recipe_errors(error_messages(exc))
            status = 400
    elif action == "apply" and not errors:
        prepared, errors, status = _apply(request, source, recipe, split_form)
        if prepared is not None:
            messages.success(
                request,
                f"Preparing version {prepared.version} from version "
                f"{source.version}: cleaning, splitting and profiling.",
            )
            url = reverse("projects:step", args=[project.slug, "prepare"])
            return redirect(f"{url}?prepared={prepared.version}#result")
    elif action == "apply":
        split_form.is_valid()  # its own errors show too

    context = {
        "latest": latest,
        "ready_versions": ready,
        "source": source,
        "columns": columns,
        "ops": list(OPS.items()),
        "preview": preview,
        "sample": _sample(preview["sample"]) if preview else None,
        "preview_rows": PREVIEW_ROWS,
        "recipe_from": previous,
        **_editor_context(recipe, columns, errors),
    }
    if action == "preview" and request.htmx:
        context["can_run"] = True
        return render(request, "projects/_prepare_editor.html", context, status=status)
    context.update(
        split_form=split_form,
        new_steps=new_step_templates(columns),
        **_versions_context(request, project, versions),
    )
    return render_step(
        request, project, "prepare", "projects/step_prepare.html", context, status
    )
