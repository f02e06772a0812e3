"""Step 4: feature engineering — how each column becomes model input.

The page shows one row per column of a ready version (a prepared one by default)
with the suggested treatment, or the project's saved default when there is one.
The spec travels as one JSON document in a hidden field that static/js/features.js
keeps in step with the inputs; the server renders the table from that JSON, so a
preview or a refused save shows every column as the user left it, with the error
on the row of the column it names (``spec.columns.<name>.<option>``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from pydantic import ValidationError as PydanticValidationError

from projects.access import can, get_project_for
from projects.charts.features import outputs_per_column_figure
from projects.charts.profile import figure_json
from projects.ml.features import (
    COMPATIBLE,
    DATETIME_PARTS,
    SPEC_KINDS,
    BooleanSpec,
    CategoricalSpec,
    DatetimeSpec,
    DropSpec,
    NumericSpec,
    TextSpec,
)
from projects.models import AuditEvent, Dataset, DatasetStatus, Role, TaskType
from projects.selectors import dataset_versions, project_steps
from projects.services.features import (
    dataset_features_preview,
    dataset_suggested_features,
    project_feature_spec_set,
)
from projects.services.preparation import SPLIT_COLUMN, stored_kinds
from projects.views.common import (
    error_messages,
    model_field_choices,
    model_field_default,
    parse_json_object,
    pick_version,
    render_step,
)

logger = logging.getLogger(__name__)

MODELS: dict[str, type] = {
    "numeric": NumericSpec,
    "categorical": CategoricalSpec,
    "datetime": DatetimeSpec,
    "text": TextSpec,
    "boolean": BooleanSpec,
    "drop": DropSpec,
}
KIND_LABELS = {
    "numeric": "Number",
    "categorical": "Category",
    "datetime": "Date parts",
    "text": "Text (TF-IDF)",
    "boolean": "Yes / no (0/1)",
    "drop": "Drop (not an input)",
}
# How the table shows each option of each kind; the choices and defaults come from
# the pydantic models in projects.ml.features, and a test checks that this table
# names every option of every kind, so a new one cannot be forgotten.
#   select: the Literal's choices   number: a number (optional ones may be empty)
#   checkbox   parts: one checkbox per date part   date: a date (empty: none)
OPTIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "numeric": (
        ("impute", "select", "Fill missing with"),
        ("fill_value", "number", "Constant"),
        ("transform", "select", "Transform"),
        ("scaler", "select", "Scale"),
        ("bins", "number", "Bins"),
        ("add_indicator", "checkbox", "Add a was-missing column"),
    ),
    "categorical": (
        ("encoding", "select", "Encoding"),
        ("min_frequency", "number", "Group rarer than"),
        ("max_categories", "number", "At most (categories)"),
    ),
    "datetime": (
        ("parts", "parts", "Parts"),
        ("reference", "date", "Days since"),
        ("scaler", "select", "Scale"),
    ),
    "text": (("max_features", "number", "Words kept"),),
    "boolean": (),
    "drop": (),
}
CHOICE_LABELS = {
    "impute": {
        "median": "the median",
        "mean": "the mean",
        "most_frequent": "the most frequent",
        "constant": "a constant",
    },
    "transform": {"none": "none", "log": "log", "yeo-johnson": "Yeo-Johnson"},
    "scaler": {
        "standard": "standard (z-score)",
        "minmax": "min–max (0 to 1)",
        "robust": "robust (median, IQR)",
        "none": "none",
    },
    "encoding": {
        "onehot": "one-hot",
        "ordinal": "ordinal codes",
        "target": "target encoding",
    },
}
OPTION_HELP = {
    "min_frequency": "A share below 1 (0.01 = 1% of rows) or a row count.",
    "bins": "Quantile bins, one-hot; they replace scaling.",
    "max_features": "The most frequent words, at most 5,000.",
    "reference": "Empty: the earliest training date.",
}
PART_LABELS = {
    "year": "year",
    "month": "month",
    "day": "day",
    "dayofweek": "weekday",
    "hour": "hour",
    "is_weekend": "weekend",
    "days_since": "days since",
}
SAMPLE_COLUMNS = 40  # transformed columns shown in the sample table
SAVED_VERB = "project.feature_spec_set"


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------------------
# The table: a spec (as JSON data) shown as one row per column
# ---------------------------------------------------------------------------


@dataclass
class OptionView:
    name: str
    widget: str
    label: str
    value: str = ""
    checked: bool = False
    choices: list[tuple[str, str, bool]] = field(default_factory=list)
    error: str = ""
    optional: bool = False
    help: str = ""
    shown: bool = True  # the constant only matters when filling with a constant

    @property
    def readable(self) -> bool:
        """Worth a line in the read-only view (unset and "no" options are not)."""
        if not self.shown or (self.widget == "checkbox" and not self.checked):
            return False
        return bool(self.display) or not self.optional

    @property
    def display(self) -> str:
        """The value as a reader sees it (no form controls)."""
        if self.widget == "checkbox":
            return "yes" if self.checked else "no"
        if self.widget == "parts":
            return ", ".join(label for _, label, on in self.choices if on)
        if self.choices:
            labels = {value: label for value, label, _ in self.choices}
            return labels.get(self.value, self.value)
        return self.value


@dataclass
class KindGroup:
    kind: str
    options: list[OptionView]


@dataclass
class ColumnRow:
    name: str
    data_kind: str  # the profile's
    stored_kind: str  # what the stored values are (dates in text are text)
    kind: str  # the treatment
    kinds: list[tuple[str, str]]
    options: list[OptionView]  # of the chosen treatment; others come from templates
    reason: str = ""
    suggested: dict | None = None  # the suggestion for this column, as JSON data
    changed: bool = False
    missing_share: float | None = None
    distinct: int | None = None
    is_target: bool = False
    in_data: bool = True
    errors: list[str] = field(default_factory=list)
    kind_error: str = ""
    hint: str = ""  # the treatment cannot work on these values, said before preview

    @property
    def has_error(self) -> bool:
        return bool(self.errors or self.kind_error) or any(
            o.error for o in self.options
        )

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def suggested_json(self) -> str:
        return json.dumps(self.suggested) if self.suggested else ""

    @property
    def suggested_label(self) -> str:
        kind = (self.suggested or {}).get("kind", "")
        return KIND_LABELS.get(kind, kind)

    @property
    def changed_text(self) -> str:
        if (self.suggested or {}).get("kind") == self.kind:
            return "Options differ from the suggestion."
        return f"Suggested: {self.suggested_label}."


def _option_view(
    kind: str, spec: tuple[str, str, str], raw: dict, task_type: str
) -> OptionView:
    name, widget, label = spec
    default = model_field_default(MODELS[kind], name)
    value = raw.get(name, default)
    view = OptionView(
        name=name,
        widget=widget,
        label=label,
        optional=default is None,
        help=OPTION_HELP.get(name, ""),
    )
    if widget == "checkbox":
        view.checked = bool(value)
    elif widget == "parts":
        chosen = set(value) if isinstance(value, list) else set()
        view.choices = [(p, PART_LABELS[p], p in chosen) for p in DATETIME_PARTS]
    elif widget == "select":
        labels = CHOICE_LABELS.get(name, {})
        choices = model_field_choices(MODELS[kind], name)
        if name == "encoding" and task_type == TaskType.CLUSTERING:
            choices = [c for c in choices if c != "target" or value == "target"]
        view.value = str(value if value is not None else choices[0])
        if view.value not in choices:
            choices.append(view.value)  # shown back as sent; the error says why
        view.choices = [(c, labels.get(c, c.replace("_", " ")), False) for c in choices]
    elif widget == "date":
        view.value = str(value)[:10] if value else ""
    else:
        view.value = _scalar(value)
    return view


def kind_templates(task_type: str) -> list[KindGroup]:
    """Each treatment's options at their defaults, for the page to copy into a
    row whose treatment changes (rendering every kind in every row would make
    wide tables heavy)."""
    return [
        KindGroup(k, [_option_view(k, spec, {}, task_type) for spec in OPTIONS[k]])
        for k in SPEC_KINDS
        if OPTIONS[k]
    ]


def _kind_choices(stored_kind: str, current: str) -> list[tuple[str, str]]:
    """The treatments that fit the stored values, plus the current one."""
    kinds = [k for k in SPEC_KINDS if stored_kind in COMPATIBLE[k] or k == current]
    if not stored_kind:
        kinds = list(SPEC_KINDS)
    return [(k, KIND_LABELS[k]) for k in kinds]


def _split_errors(
    errors: dict[str, str], names: list[str]
) -> tuple[dict[str, dict[str, str]], dict[int, str], list[str]]:
    """Errors by column (then option), by interaction, and the rest.

    Column names may contain dots, so the longest column name that starts the
    path wins.
    """
    by_column: dict[str, dict[str, str]] = {}
    by_pair: dict[int, str] = {}
    general: list[str] = []
    longest_first = sorted(names, key=len, reverse=True)
    for key, message in errors.items():
        path = key.removeprefix("spec.")
        if path.startswith(("columns.", "interactions.")):
            message = _inline(message, path)
        if path.startswith("columns."):
            rest = path.removeprefix("columns.")
            name = next(
                (n for n in longest_first if rest == n or rest.startswith(n + ".")),
                None,
            )
            if name is not None:
                option = rest[len(name) + 1 :]
                by_column.setdefault(name, {})[option] = message
                continue
        if path.startswith("interactions."):
            index = path.split(".")[1]
            if index.isdigit():
                by_pair[int(index)] = message
                continue
        general.append(message)
    return by_column, by_pair, general


def _inline(message: str, path: str) -> str:
    """A message shown beside its field need not repeat the field's path."""
    for prefix in (f"spec.{path}: ", f"{path}: "):
        if message.startswith(prefix):
            rest = message[len(prefix) :]
            return rest[:1].upper() + rest[1:]
    return message


def _differs(raw: dict, suggested: dict | None) -> bool:
    """Whether a column's treatment is not the suggested one (defaults filled in)."""
    if suggested is None:
        return False
    model = MODELS.get(raw.get("kind"))
    if model is None:
        return True
    try:
        return model.model_validate(raw).model_dump(mode="json") != suggested
    except PydanticValidationError:
        return True


def _row(
    name: str,
    raw: Any,
    profile_col: dict,
    stored_kind: str,
    *,
    reason: str,
    suggested: dict | None,
    task_type: str,
    errors: dict[str, str],
) -> ColumnRow:
    raw = raw if isinstance(raw, dict) else {"kind": "drop"}
    kind = raw.get("kind") if raw.get("kind") in SPEC_KINDS else "drop"
    row = ColumnRow(
        name=name,
        data_kind=profile_col.get("kind", ""),
        stored_kind=stored_kind,
        kind=kind,
        kinds=_kind_choices(stored_kind, kind),
        options=[_option_view(kind, spec, raw, task_type) for spec in OPTIONS[kind]],
        reason=reason,
        suggested=suggested,
        changed=_differs(raw, suggested),
        missing_share=profile_col.get("missing_share"),
        distinct=profile_col.get("distinct"),
    )
    errors = dict(errors)
    row.kind_error = errors.pop("kind", "")
    for option in row.options:
        if option.name in errors:
            option.error = errors.pop(option.name)
        if option.name == "fill_value":
            impute = next(o for o in row.options if o.name == "impute")
            option.shown = impute.value == "constant" or bool(option.error)
    # The column itself ("") or an option the table does not show.
    row.errors = [m for m in errors.values() if m]
    if stored_kind and stored_kind not in COMPATIBLE[kind] and not row.kind_error:
        row.hint = _hint(row)
    return row


def _hint(row: ColumnRow) -> str:
    if row.data_kind == "datetime" and row.kind == "datetime":
        return (
            f"These dates are stored as {row.stored_kind} text: add a Parse dates "
            "step in step 3 to use date parts, or choose another treatment."
        )
    return (
        f"{row.kind_label} does not fit {row.stored_kind} values; choose another "
        "treatment."
    )


def _as_spec(spec: Any) -> dict:
    return spec if isinstance(spec, dict) else {}


def spec_rows(
    spec: Any,
    dataset: Dataset,
    *,
    target: str,
    task_type: str,
    errors: dict[str, str] | None = None,
    suggested: dict | None = None,
) -> tuple[list[ColumnRow], dict[int, str], list[str]]:
    """One row per column of the version (then spec columns it lacks), errors
    placed on their row; plus interaction errors and spec-wide errors.

    With the ``suggested`` spec, each row knows its suggestion (to say when it
    was changed) and a column without a reason of its own gets the suggestion's.
    """
    spec = _as_spec(spec)
    columns = spec.get("columns") if isinstance(spec.get("columns"), dict) else {}
    reasons = spec.get("reasons") if isinstance(spec.get("reasons"), dict) else {}
    suggested_columns = (suggested or {}).get("columns", {})
    reasons = {**(suggested or {}).get("reasons", {}), **reasons}
    profile = {c["name"]: c for c in (dataset.profile or {}).get("columns", [])}
    kinds = stored_kinds(dataset.profile or {"columns": []})
    names = [n for n in dataset.column_names if n != SPLIT_COLUMN]
    extra = [n for n in columns if n not in names]
    by_column, by_pair, general = _split_errors(errors or {}, names + extra)
    rows = []
    for name in names + extra:
        row = _row(
            name,
            columns.get(name),
            profile.get(name, {}),
            kinds.get(name, ""),
            reason=str(reasons.get(name) or ""),
            suggested=suggested_columns.get(name, {"kind": "drop"})
            if suggested is not None
            else None,
            task_type=task_type,
            errors=by_column.get(name, {}),
        )
        row.is_target = bool(target) and name == target
        row.in_data = name in names
        rows.append(row)
    return rows, by_pair, general


@dataclass
class PairView:
    a: str
    b: str
    error: str = ""


def _pairs(spec: Any, errors: dict[int, str]) -> list[PairView]:
    pairs = _as_spec(spec).get("interactions")
    views = []
    for i, pair in enumerate(pairs if isinstance(pairs, list) else []):
        a, b = [*pair, "", ""][:2] if isinstance(pair, list) else ("", "")
        views.append(PairView(a=str(a), b=str(b), error=errors.get(i, "")))
    return views


# ---------------------------------------------------------------------------
# The preview
# ---------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4g}"


def preview_context(preview: dict, interactions: list[PairView]) -> dict:
    """The preview's outputs grouped by source column, and a sample table."""
    names = preview["feature_names"]
    groups, start = [], 0
    for source, count in preview["by_column"].items():
        groups.append({"source": source, "names": names[start : start + count]})
        start += count
    pair_names = {f"{p.a}*{p.b}" for p in interactions}
    fig = outputs_per_column_figure(preview["by_column"], interactions=pair_names)
    shown = names[:SAMPLE_COLUMNS]
    return {
        "preview": preview,
        "preview_groups": groups,
        "preview_columns": len(preview["by_column"]) - len(pair_names),
        "preview_pairs": len(pair_names),
        "preview_chart": figure_json(fig) if fig is not None else None,
        "sample_names": shown,
        "sample_hidden": len(names) - len(shown),
        "sample_rows": [
            [_number(v) for v in row[: len(shown)]] for row in preview["sample"]
        ],
    }


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def _saved_event(project) -> AuditEvent | None:
    return (
        AuditEvent.objects.filter(project=project, verb=SAVED_VERB)
        .select_related("actor")
        .first()
    )


def _count_features(spec: Any) -> int:
    columns = _as_spec(spec).get("columns") or {}
    return sum(
        1 for c in columns.values() if isinstance(c, dict) and c.get("kind") != "drop"
    )


def features_step(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    if request.method == "POST" and not can(request.user, project, Role.SCIENTIST):
        raise PermissionDenied(
            "Only scientists and the owner can change the feature spec."
        )
    versions = list(dataset_versions(project))
    latest = versions[0] if versions else None
    state = next(s for s in project_steps(project, latest) if s.slug == "features")
    if state.state == "waiting":
        if request.method == "POST":
            return HttpResponse(f"This step waits for {state.waits_for}.", status=409)
        return render_step(
            request,
            project,
            "features",
            "projects/step_features.html",
            {"latest": latest, "waiting": True},
        )

    params = request.POST if request.method == "POST" else request.GET
    ready = [d for d in versions if d.status == DatasetStatus.READY]
    source = pick_version(ready, params.get("version"), prepared=True)
    source.refresh_from_db(fields=["profile", "schema"])
    action = request.POST.get("action") if request.method == "POST" else None
    saved = project.feature_spec
    start = "saved" if saved and request.GET.get("start") != "suggestion" else ""
    status = 200
    errors: dict[str, str] = {}
    preview = None

    try:
        suggested = dataset_suggested_features(dataset=source)
    except ValidationError as exc:
        suggested, errors = None, error_messages(exc)

    if action in ("preview", "save"):
        spec, errors = parse_json_object(
            request.POST.get("spec", ""),
            field="spec",
            label="feature spec",
            needs="columns",
        )
        start = "edited"
    elif start == "saved":
        spec = saved
    else:
        start = "suggestion"
        spec = suggested or {"columns": {}}

    if action in ("preview", "save") and not errors:
        try:
            if action == "preview":
                preview = dataset_features_preview(dataset=source, spec=spec)
            else:
                stored = project_feature_spec_set(
                    project=project, dataset=source, spec=spec, user=request.user
                )
        except ValidationError as exc:
            errors = error_messages(exc)
        except (ValueError, TypeError) as exc:
            # The data can defeat a spec in ways the checks do not foresee; say so
            # where the spec is edited instead of failing the page.
            logger.warning("feature %s failed on version %s", action, source.pk)
            errors = {"spec": f"The features could not be built from these data: {exc}"}
        else:
            if action == "save":
                n = _count_features(stored)
                messages.success(
                    request,
                    f"Saved as the project default: {n} input column"
                    f"{'s' if n != 1 else ''} from version {source.version}. "
                    "Experiments in step 6 start from it.",
                )
                url = reverse("projects:step", args=[project.slug, "features"])
                return redirect(f"{url}?version={source.version}#spec")
    if errors:
        status = 400

    target = project.target_column or ""
    rows, pair_errors, general = spec_rows(
        spec,
        source,
        target=target,
        task_type=project.task_type,
        errors=errors,
        suggested=suggested,
    )
    pairs = _pairs(spec, pair_errors)
    numeric_columns = [r.name for r in rows if r.stored_kind == "numeric"]
    for pair in pairs:  # a pair naming a column that is not numeric stays visible
        for name in (pair.a, pair.b):
            if name and name not in numeric_columns:
                numeric_columns.append(name)
    max_out = _as_spec(spec).get("max_features_out")
    context = {
        "latest": latest,
        "ready_versions": ready,
        "source": source,
        "rows": rows,
        "pairs": pairs,
        "numeric_columns": numeric_columns,
        "max_features_out": _scalar(max_out) if max_out is not None else "",
        "spec_json": json.dumps(spec if spec is not None else {"columns": {}}),
        "spec_errors": general,
        "kind_labels": KIND_LABELS,
        "start": start,
        "has_split": bool(source.split),
        "kind_templates": kind_templates(project.task_type),
    }
    if preview is not None:
        context.update(preview_context(preview, pairs))
    if action == "preview" and request.htmx:
        context["can_run"] = True
        return render(request, "projects/_features_editor.html", context, status=status)

    context.update(
        {
            "saved_spec": saved,
            "saved_event": _saved_event(project) if saved else None,
        }
    )
    return render_step(
        request, project, "features", "projects/step_features.html", context, status
    )
