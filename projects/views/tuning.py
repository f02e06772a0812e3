"""Step 8: hyperparameter tuning — start a study, then watch it search.

The step page holds the form that starts a study: the prepared version, the
algorithm (``?experiment=<id>`` prefills an experiment's algorithm and version),
the strategy, the budget (trials and/or minutes), the CV folds and the search
space as one editable row per catalog parameter, prefilled from the proposed
space. The service checks everything before anything is written; its errors land
on the field they name (``search_space.C.low`` on C's low bound, ``max_trials`` on
the budget). Below: the project's studies.

The study page shows the study's settings and a live part that htmx polls every
two seconds while the study (or the training of its best parameters) is active:
progress, the trials table (50 per page, newest first), the best score so far
against trial number and time, parameter importance and a slice chart. A poll that
finds nothing new answers 204, so htmx keeps the page (and its charts) as they are;
the last poll answers a fragment without ``hx-trigger``, which stops polling.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from projects.access import can, get_project_for
from projects.charts import tuning as charts
from projects.charts.profile import figure_json
from projects.ml.catalog import CATALOG, Algorithm, Param
from projects.ml.tuning import DEFAULT_STEPS, STRATEGIES, default_search_space
from projects.models import (
    Dataset,
    DatasetStatus,
    Experiment,
    Job,
    Project,
    Role,
    Study,
    Trial,
)
from projects.selectors import dataset_versions, project_steps, studies_of
from projects.services.jobs import QueueUnavailable
from projects.services.tuning import (
    study_cancel,
    study_check_progress,
    study_create,
    study_importance,
)
from projects.views.common import error_messages, render_step
from projects.views.training import experiment_dashboard_url

DEFAULT_TRIALS = 30
DEFAULT_FOLDS = 5
TRIALS_PER_PAGE = 50
STUDIES_SHOWN = 50
STRATEGY_HELP = {
    "grid": "Tries every combination of a few values per parameter (the grid "
    "steps). Thorough, but the count multiplies with each parameter.",
    "random": "Draws parameter sets at random from the ranges. A strong, simple "
    "default when several parameters matter.",
    "bayesian": "Optuna's TPE learns from the finished trials where good values "
    "lie and samples there; clearly bad trials stop after a fold or two.",
    "halving": "Random parameter sets scored on one fold first; only the best "
    "third earns more folds, so many sets are tried cheaply.",
}
# The form fields a service error may name, besides the search space rows.
FORM_FIELDS = ("dataset_id", "algorithm", "strategy", "max_trials", "time_budget_s")


# ------------------------------------------------------------------ the form


@dataclass
class SpaceRow:
    """One catalog parameter as a row of the search-space editor."""

    name: str
    kind: str  # the catalog's: int | float | choice
    help: str
    included: bool = False
    type: str = ""  # the search's: int | float | choice
    low: str = ""
    high: str = ""
    log: bool = False
    steps: str = str(DEFAULT_STEPS)
    values: str = ""  # a number searched over a list: "3, 5, 9"
    options: list[tuple[str, bool]] = field(default_factory=list)
    when: dict | None = None
    range_text: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def when_text(self) -> str:
        if not self.when:
            return ""
        ((other, values),) = self.when.items()
        return f"only searched when {other} is {' or '.join(map(str, values))}"

    @property
    def has_error(self) -> bool:
        return bool(self.errors)

    @property
    def row_error(self) -> str:
        """An error about the parameter as a whole (not one of its inputs)."""
        return self.errors.get("", "")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:g}"
    return str(value)


def space_field(name: str, part: str) -> str:
    """The form field of one part of a parameter's row: ``space.<name>.<part>``."""
    return f"space.{name}.{part}"


def _row(param: Param, spec: dict | None) -> SpaceRow:
    """A row prefilled from the proposed spec, or from the catalog's limits."""
    row = SpaceRow(name=param.name, kind=param.kind, help=param.help)
    if param.kind in ("int", "float"):
        row.range_text = f"{_text(param.low)} to {_text(param.high)}"
    row.included = spec is not None
    spec = spec or {}
    row.type = spec.get("type") or ("choice" if param.kind == "choice" else param.kind)
    if row.numeric:
        row.low = _text(spec.get("low", param.low))
        row.high = _text(spec.get("high", param.high))
        row.log = bool(spec.get("log", param.log))
        row.steps = _text(spec.get("steps", DEFAULT_STEPS))
        if row.type == "choice":
            row.values = ", ".join(_text(v) for v in spec.get("choices", []))
    else:
        chosen = spec.get("choices", list(param.choices))
        row.options = [(str(c), c in chosen) for c in param.choices]
    row.when = spec.get("when")
    return row


def space_rows(entry: Algorithm, space: dict) -> list[SpaceRow]:
    """Every tunable parameter of the algorithm; the proposed ones ticked."""
    rows = [_row(p, space.get(p.name)) for p in entry.params if p.kind != "bool"]
    return sorted(rows, key=lambda r: not r.included)


def _posted_rows(entry: Algorithm, proposed: dict, data) -> list[SpaceRow]:
    """The rows as the user left them (for the search space and a re-render)."""
    rows = []
    for param in entry.params:
        if param.kind == "bool":
            continue
        row = _row(param, proposed.get(param.name))
        get = lambda part, r=param.name: data.get(space_field(r, part), "")  # noqa: E731
        row.included = bool(get("include"))
        if row.numeric:
            row.type = get("type") or row.type
            row.low, row.high = get("low"), get("high")
            row.log = bool(get("log"))
            row.steps = get("steps")
            row.values = get("values")
        else:
            ticked = set(data.getlist(space_field(param.name, "choices")))
            row.options = [(c, c in ticked) for c, _ in row.options]
        rows.append(row)
    return rows


def _number(text: str) -> Any:
    """Posted text as a number; text that is not one is passed on as it is, so
    the service names the field and says why."""
    text = (text or "").strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _steps(text: str) -> Any:
    text = (text or "").strip()
    if text == "":
        return DEFAULT_STEPS
    try:
        return int(text)
    except ValueError:
        return text


def search_space_from(rows: list[SpaceRow]) -> dict:
    """The search space the ticked rows describe (checked by the service)."""
    space: dict[str, dict] = {}
    for row in rows:
        if not row.included:
            continue
        if not row.numeric:
            spec: dict[str, Any] = {
                "type": "choice",
                "choices": [c for c, ticked in row.options if ticked],
            }
        elif row.type == "choice":
            values = [v for v in row.values.split(",") if v.strip()]
            spec = {"type": "choice", "choices": [_number(v) for v in values]}
        else:
            spec = {
                "type": row.type,
                "low": _number(row.low),
                "high": _number(row.high),
                "log": row.log,
                "steps": _steps(row.steps),
            }
        if row.when:
            spec["when"] = row.when
        space[row.name] = spec
    return space


def _inline(message: str, path: str, name: str = "") -> str:
    """A message shown beside its field need not repeat the field's path (nor
    capitalise a parameter's name that starts it)."""
    prefix = f"{path}: "
    if message.startswith(prefix):
        rest = message[len(prefix) :]
        if name and rest.startswith(name):
            return rest
        return rest[:1].upper() + rest[1:]
    return message


def place_errors(
    errors: dict[str, str], rows: list[SpaceRow], form_errors: dict[str, str]
) -> list[str]:
    """Put a service's errors on the rows and fields they name; returns the
    space-wide ones (``search_space`` itself) and the rest, page-wide."""
    by_name = {r.name: r for r in rows}
    general = []
    for key, message in errors.items():
        parts = key.split(".")
        if parts[0] == "search_space" and len(parts) >= 2 and parts[1] in by_name:
            row = by_name[parts[1]]
            part = parts[2] if len(parts) > 2 else ""
            if part == "choices" and row.numeric:
                part = "list"  # a number searched over a list of values
            path = ".".join(parts[: 3 if len(parts) > 2 else 2])
            row.errors[part] = _inline(message, path, row.name)
        elif key in FORM_FIELDS or key == "cv_folds" or key == "search_space":
            form_errors[key] = _inline(message, key)
        else:
            general.append(message)
    return general


def _prepared(versions: list[Dataset]) -> list[Dataset]:
    return [
        d
        for d in versions
        if d.parent_id is not None and d.status == DatasetStatus.READY and d.split
    ]


def tunable(project: Project) -> list[Algorithm]:
    """The catalog entries a study can search (the baseline and models without
    parameters have nothing to tune)."""
    return [
        a
        for a in CATALOG.get(project.task_type, {}).values()
        if not a.baseline and any(p.kind != "bool" for p in a.params)
    ]


def _whole(raw: str, label: str) -> tuple[int | None, str]:
    text = (raw or "").strip().replace(",", "")
    if text == "":
        return None, ""
    try:
        return int(text), ""
    except ValueError:
        return None, f"Give a whole number of {label}."


def _minutes(raw: str) -> tuple[int | None, str]:
    text = (raw or "").strip()
    if text == "":
        return None, ""
    try:
        minutes = float(text)
    except ValueError:
        return None, "Give a number of minutes, e.g. 5 or 0.5."
    if minutes != minutes or minutes in (float("inf"), float("-inf")):
        return None, "Give a number of minutes, e.g. 5 or 0.5."
    return round(minutes * 60), ""


def _source_experiment(project: Project, raw: str | None) -> Experiment | None:
    if not raw or not str(raw).isdigit():
        return None
    return (
        Experiment.objects.filter(project=project, pk=raw, is_baseline=False)
        .select_related("dataset")
        .only("id", "name", "algorithm", "dataset__version", "project_id")
        .first()
    )


def _study_rows(project: Project) -> tuple[list[dict], int]:
    qs = studies_of(project)
    total = qs.count()
    studies = list(
        qs.select_related("dataset", "best_experiment").only(
            "id",
            "status",
            "strategy",
            "algorithm",
            "metric",
            "max_trials",
            "time_budget_s",
            "n_trials",
            "best_score",
            "created_at",
            "dataset__version",
            "best_experiment__id",
            "best_experiment__status",
        )[:STUDIES_SHOWN]
    )
    labels = {a.key: a.label for a in CATALOG.get(project.task_type, {}).values()}
    rows = [
        {
            "study": s,
            "label": labels.get(s.algorithm, s.algorithm),
            "url": reverse("projects:study", args=[project.slug, s.pk]),
        }
        for s in studies
    ]
    return rows, total


def tuning_step(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    if request.method == "POST" and not can(request.user, project, Role.SCIENTIST):
        raise PermissionDenied("Only scientists and the owner can start a study.")
    versions = list(dataset_versions(project))
    latest = versions[0] if versions else None
    prepared = _prepared(versions)
    trained = Experiment.objects.filter(
        project=project, status=Experiment.Status.SUCCEEDED
    ).exists()
    studies, n_studies = _study_rows(project)
    if not prepared or not trained:
        if request.method == "POST":
            return HttpResponse(
                "This step waits for a trained experiment (step 6).", status=409
            )
        steps = project_steps(project, latest)
        return render_step(
            request,
            project,
            "tuning",
            "projects/step_tuning.html",
            {
                "latest": latest,
                "waiting": True,
                "training_step": next(s for s in steps if s.slug == "training"),
                "studies": studies,
                "n_studies": n_studies,
            },
        )

    data = request.POST if request.method == "POST" else request.GET
    algorithms = tunable(project)
    by_key = {a.key: a for a in algorithms}
    source = _source_experiment(project, data.get("experiment"))
    wanted_algorithm = data.get("algorithm") or (source.algorithm if source else "")
    wanted_version = data.get("version") or (
        str(source.dataset.version) if source else ""
    )
    form_errors: dict[str, str] = {}
    general: list[str] = []
    entry = by_key.get(wanted_algorithm)
    if entry is None:
        if request.method == "POST":
            form_errors["algorithm"] = (
                f"Choose an algorithm to tune ({wanted_algorithm or 'none given'} "
                "is not one)."
            )
        entry = by_key.get(_latest_trained_algorithm(project)) or algorithms[0]
    dataset = next((d for d in prepared if str(d.version) == wanted_version), None)
    if dataset is None:
        if request.method == "POST" and wanted_version:
            form_errors["dataset_id"] = (
                f"Version {wanted_version} is not a prepared version of this "
                "project; choose one of the list."
            )
        dataset = prepared[0]
    requested = source
    if source is not None and source.algorithm != entry.key:
        source = None  # the algorithm was changed: no longer "this model, tuned"
    proposed = default_search_space(project.task_type, entry.key)
    values = {
        "strategy": data.get("strategy") or "bayesian",
        "max_trials": data.get("max_trials", str(DEFAULT_TRIALS)),
        "minutes": data.get("minutes", ""),
        "cv_folds": data.get("cv_folds", str(DEFAULT_FOLDS)),
    }
    status = 200
    if request.method == "POST":
        rows = _posted_rows(entry, proposed, request.POST)
        max_trials, error = _whole(values["max_trials"], "trials")
        if error:
            form_errors["max_trials"] = error
        time_budget_s, error = _minutes(values["minutes"])
        if error:
            form_errors["time_budget_s"] = error
        cv_folds, error = _whole(values["cv_folds"], "folds")
        if error or cv_folds is None:
            form_errors["cv_folds"] = error or "Give 2 to 20 folds."
        if not form_errors:
            try:
                study = study_create(
                    project=project,
                    dataset=dataset,
                    algorithm=entry.key,
                    strategy=values["strategy"],
                    max_trials=max_trials,
                    time_budget_s=time_budget_s,
                    search_space=search_space_from(rows),
                    cv_folds=cv_folds,
                    source_experiment=source,
                    user=request.user,
                )
            except ValidationError as exc:
                general = place_errors(error_messages(exc), rows, form_errors)
            except QueueUnavailable as exc:
                general.append(exc.message)
                status = 503
            else:
                messages.success(
                    request,
                    f"Study #{study.pk} started: {study.get_strategy_display()} "
                    f"search of {entry.label}. Its trials run as jobs on the "
                    "training queue, several at once.",
                )
                return redirect("projects:study", project.slug, study.pk)
        if status == 200:
            status = 400
    else:
        rows = space_rows(entry, proposed)
    context = {
        "latest": latest,
        "prepared_versions": prepared,
        "dataset": dataset,
        "algorithms": algorithms,
        "entry": entry,
        "source": source,
        "requested_source": requested,
        "rows": rows,
        "values": values,
        "strategies": [
            (key, Study.Strategy(key).label, STRATEGY_HELP[key]) for key in STRATEGIES
        ],
        "form_errors": form_errors,
        "general_errors": general,
        "studies": studies,
        "n_studies": n_studies,
        "parallelism": _parallelism(),
    }
    return render_step(
        request, project, "tuning", "projects/step_tuning.html", context, status
    )


def _parallelism() -> int:
    return settings.TUNING_PARALLELISM


def _latest_trained_algorithm(project: Project) -> str | None:
    return (
        Experiment.objects.filter(
            project=project, status=Experiment.Status.SUCCEEDED, is_baseline=False
        )
        .order_by("-created_at")
        .values_list("algorithm", flat=True)
        .first()
    )


# ------------------------------------------------------------ the study page


def _study_for(request: HttpRequest, slug: str, study_id: int) -> tuple[Project, Study]:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    study = (
        Study.objects.filter(project=project, pk=study_id)
        .select_related("dataset", "best_experiment", "source_experiment", "created_by")
        .defer(
            "dataset__profile",
            "dataset__analysis",
            "dataset__schema",
            "dataset__report",
            "dataset__recipe",
            "best_experiment__evaluation",
            "best_experiment__test_evaluation",
            "best_experiment__log",
            "best_experiment__feature_spec",
            "source_experiment__evaluation",
            "source_experiment__test_evaluation",
            "source_experiment__log",
            "source_experiment__feature_spec",
        )
        .first()
    )
    if study is None:
        raise Http404("No such study.")
    return project, study


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _elapsed(study: Study) -> float | None:
    if study.started_at is None:
        return None
    end = study.finished_at or timezone.now()
    return max(0.0, (end - study.started_at).total_seconds())


def _importance(study: Study, n_complete: int) -> dict[str, float] | None:
    """Optuna's importance, computed once per number of finished trials (it
    costs more than a poll should)."""
    if n_complete < 5 or len(study.search_space) < 2:
        return None
    key = f"study-importance:{study.pk}:{n_complete}"
    found = cache.get(key)
    if found is None:
        found = study_importance(study) or {}
        cache.set(key, found, 3600)
    return found or None


def live_context(request: HttpRequest, project: Project, study: Study) -> dict:
    """Everything the live part shows, in a bounded number of queries: the page
    of trials, one list of (number, status, score, time, params) for the charts,
    the active trial jobs."""
    page = Paginator(
        study.trials.order_by("-number").only(
            "study_id",
            "number",
            "params",
            "score",
            "status",
            "seconds",
            "error",
            "intermediate",
            "is_defaults",
        ),
        TRIALS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    started = study.started_at
    points = []
    for number, status, score, finished, params in study.trials.values_list(
        "number", "status", "score", "finished_at", "params"
    ):
        elapsed = (
            (finished - started).total_seconds()
            if started is not None and finished is not None
            else None
        )
        points.append(
            {
                "number": number,
                "status": status,
                "score": score,
                "elapsed_s": elapsed,
                "params": params or {},
            }
        )
    counts = dict.fromkeys(Trial.Status.values, 0)
    for p in points:
        counts[p["status"]] = counts.get(p["status"], 0) + 1
    state = live_state(study)
    running_jobs = state["running_jobs"]
    importance = _importance(study, counts[Trial.Status.COMPLETE])
    top = charts.top_params(importance, study.search_space)
    chart_args = {"metric": study.metric, "higher_is_better": study.higher_is_better}
    figures = {
        "by_trial": charts.best_so_far_figure(points, by="number", **chart_args),
        "by_time": charts.best_so_far_figure(points, by="elapsed", **chart_args),
        "importance": charts.importance_figure(importance),
        "slice": charts.slice_figure(
            points, top, study.search_space, metric=study.metric
        ),
    }
    best_experiment = study.best_experiment
    elapsed = state["elapsed"]
    trials = [
        {
            "trial": t,
            "params": [(k, _value_text(v)) for k, v in sorted(t.params.items())],
            "seconds": _duration(t.seconds),
            "is_best": t.number == study.best_trial_number,
            "is_trained": study.selection.get("kept") == "defaults"
            and t.number == study.selection.get("trial"),
            "folds_done": len(t.intermediate or []),
        }
        for t in page.object_list
    ]
    url = reverse("projects:study_live", args=[project.slug, study.pk])
    return {
        "project": project,
        "study": study,
        "page": page,
        "trials": trials,
        "counts": counts,
        "running_jobs": running_jobs,
        "check": state["check"],
        "importance": importance,
        "top_params": top,
        "charts": {k: _json(f) for k, f in figures.items()},
        "best_experiment": best_experiment,
        "best_active": state["best_active"],
        "best_url": experiment_dashboard_url(project, best_experiment.pk)
        if best_experiment is not None
        else "",
        "best_params": [
            (k, _value_text(v)) for k, v in sorted((study.best_params or {}).items())
        ],
        "kept_defaults": study.selection.get("kept") == "defaults",
        "elapsed": _duration(elapsed) or "not started",
        "time_budget": _duration(study.time_budget_s),
        "progress": _progress(study, elapsed),
        "active": state["active"],
        "can_run": can(request.user, project, Role.SCIENTIST),
        "poll_url": f"{url}?page={page.number}",
        "signature": state["signature"],
    }


def _json(fig) -> str | None:
    return figure_json(fig) if fig is not None else None


def live_state(study: Study) -> dict:
    """Whether the study page still polls, and what it shows in a word (one
    query: the active trial jobs)."""
    running_jobs = list(
        Job.objects.filter(
            subject_type="study",
            subject_id=study.pk,
            kind__in=("trial", "study_check"),
            status__in=Job.ACTIVE,
        )
        .order_by("created_at")
        .values("status", "progress", "message")
    )
    best = study.best_experiment
    best_active = best is not None and best.status in (
        Experiment.Status.QUEUED,
        Experiment.Status.RUNNING,
    )
    elapsed = _elapsed(study)
    return {
        "running_jobs": running_jobs,
        "check": study_check_progress(study),
        "best_active": best_active,
        "elapsed": elapsed,
        "active": study.is_active or best_active,
        "signature": _signature(study, running_jobs, best, elapsed),
    }


def _progress(study: Study, elapsed: float | None) -> int:
    """Percent of the budget spent: trials, or time, whichever is further."""
    shares = []
    if study.max_trials:
        shares.append(study.n_trials / study.max_trials)
    if study.time_budget_s and elapsed is not None:
        shares.append(elapsed / study.time_budget_s)
    if not study.is_active and study.status == Study.Status.SUCCEEDED:
        return 100
    return round(100 * min(1.0, max(shares or [0.0])))


def _signature(study: Study, jobs: list[dict], best, elapsed: float | None) -> str:
    """What the live part shows, in a word: an unchanged one means nothing new.
    Elapsed time counts in tens of seconds so a long trial still ticks on."""
    parts = [
        study.status,
        study.n_trials,
        study.trials_started,
        best.status if best is not None else "",
        [(j["status"], j["progress"]) for j in jobs],
        study_check_progress(study),
        int((elapsed or 0) // 10),
    ]
    return hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()[:12]


def _facts(project: Project, study: Study) -> dict:
    entry = CATALOG.get(project.task_type, {}).get(study.algorithm)
    budget = []
    if study.max_trials:
        budget.append(f"{study.max_trials:,} trials")
    if study.time_budget_s:
        budget.append(_duration(study.time_budget_s))
    space = []
    for name, spec in study.search_space.items():
        if spec["type"] == "choice":
            text = ", ".join(map(str, spec["choices"]))
        else:
            text = f"{_value_text(spec['low'])} to {_value_text(spec['high'])}"
            if spec.get("log"):
                text += " (log scale)"
        when = spec.get("when")
        if when:
            ((other, values),) = when.items()
            text += f"; when {other} is {' or '.join(map(str, values))}"
        space.append((name, text))
    return {
        "label": entry.label if entry is not None else study.algorithm,
        "budget": " or ".join(budget)
        + (", whichever ends first" if len(budget) > 1 else ""),
        "space": space,
        "strategy_help": STRATEGY_HELP.get(study.strategy, ""),
    }


@require_http_methods(["GET", "POST"])
@login_required
def study_page(request: HttpRequest, slug: str, study_id: int) -> HttpResponse:
    project, study = _study_for(request, slug, study_id)
    if request.method == "POST":
        if not can(request.user, project, Role.SCIENTIST):
            raise PermissionDenied("Only scientists and the owner can cancel a study.")
        if request.POST.get("action") != "cancel":
            return HttpResponse("Unknown action.", status=400)
        try:
            study_cancel(study=study, user=request.user)
        except ValidationError as exc:
            messages.info(request, " ".join(error_messages(exc).values()))
        else:
            messages.info(
                request,
                f"Study #{study.pk} cancelled: finished trials and the best result "
                "are kept; a running trial stops at its next fold.",
            )
        return redirect("projects:study", project.slug, study.pk)
    context = {
        "study": study,
        "facts": _facts(project, study),
        "live": live_context(request, project, study),
        "source_url": experiment_dashboard_url(project, study.source_experiment_id)
        if study.source_experiment_id
        else "",
    }
    return render_step(request, project, "tuning", "projects/study.html", context)


@login_required
@require_GET
def study_live(request: HttpRequest, slug: str, study_id: int) -> HttpResponse:
    """The live part alone, for the poll; 204 when nothing changed."""
    project, study = _study_for(request, slug, study_id)
    seen = request.GET.get("seen")
    if seen:
        state = live_state(study)
        if state["active"] and seen == state["signature"]:
            return HttpResponse(status=204)
    live = live_context(request, project, study)
    return render(request, "projects/_study_live.html", {"live": live})
