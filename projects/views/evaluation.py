"""Step 7: evaluation — the team view of all experiments, and their comparison.

The team view is one table of the project's experiments (sorted, filtered and
paginated in SQL, a bounded number of queries whatever the project's size), a
leaderboard on the primary metric and a parallel-coordinates chart of one
algorithm's parameters against it. Ticking rows and "Compare selected" opens
the comparison: metrics side by side, the parameters that differ, overlaid
curves. The per-experiment dashboard lives in :mod:`projects.views.experiments`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from projects.access import get_project_for
from projects.charts import compare as compare_charts
from projects.charts.evaluation import (
    leaderboard_figure,
    parallel_coordinates_figure,
    pr_figure,
    roc_figure,
)
from projects.charts.profile import figure_json
from projects.ml.catalog import algorithm_get
from projects.ml.errors import SpecError
from projects.models import METRICS, Experiment, Project, Role
from projects.selectors import (
    EXPERIMENT_ORDERINGS,
    dataset_test_looks,
    experiment_facets,
    experiment_jobs,
    experiment_leaderboard,
    experiment_parallel_rows,
    experiments_compared,
    experiments_filtered,
    params_that_differ,
)
from projects.views.common import render_step

PER_PAGE = 50
MAX_COMPARED = 8
PARALLEL_MAX_PARAMS = 12
HALF_TITLE = 55  # characters of a chart title that fit half the page
# Table columns that sort: (ordering name, header).
SORTABLE = (
    ("score", "Score"),
    ("algorithm", "Algorithm"),
    ("version", "version"),
    ("status", "Status"),
    ("fit_seconds", "Fit time"),
    ("latency", "Latency"),
    ("created", "Created"),
)
assert {key for key, _ in SORTABLE} <= set(EXPERIMENT_ORDERINGS)


def algorithm_label(task_type: str, key: str) -> str:
    """The catalog's name for an algorithm (the key itself if it is unknown)."""
    try:
        return algorithm_get(task_type, key).label
    except SpecError:
        return key


def chart_json(fig, *, half: bool = False) -> str | None:
    """The figure's JSON; ``half`` for a chart in half the page's width, whose
    long plain-language title is broken after its colon to fit."""
    if fig is None:
        return None
    title = fig.layout.title.text or ""
    if half and ": " in title and len(title) > HALF_TITLE:
        fig.update_layout(
            title_text=title.replace(": ", ":<br>", 1),
            margin_t=64,
            height=(fig.layout.height or 360) + 30,
        )
    return figure_json(fig)


def cv_of(experiment: Experiment, metric: str) -> dict | None:
    """``{"mean", "std"}`` of a metric over the cross-validation folds."""
    cv = ((experiment.metrics or {}).get("cv") or {}).get(metric)
    return cv if cv and cv.get("mean") is not None else None


class FilterForm(forms.Form):
    algorithm = forms.ChoiceField(required=False)
    version = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "any status"), *Experiment.Status.choices],
    )
    min_score = forms.FloatField(required=False, label="Score at least")
    max_score = forms.FloatField(required=False, label="Score at most")
    ordering = forms.ChoiceField(required=False)

    def __init__(self, *args, project: Project, facets: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["algorithm"].choices = [("", "any algorithm")] + [
            (a, algorithm_label(project.task_type, a)) for a in facets["algorithms"]
        ]
        self.fields["version"].choices = [("", "any version")] + [
            (str(pk), f"v{version}") for pk, version in facets["versions"]
        ]
        orderings = [*EXPERIMENT_ORDERINGS, *(f"-{k}" for k in EXPERIMENT_ORDERINGS)]
        self.fields["ordering"].choices = [("", "")] + [(o, o) for o in orderings]

    def clean(self):
        data = super().clean()
        low, high = data.get("min_score"), data.get("max_score")
        if low is not None and high is not None and low > high:
            self.add_error("max_score", "Give a maximum at least the minimum.")
        return data

    def filters(self) -> dict[str, Any]:
        """The valid filters (an invalid one is ignored, its error shown)."""
        data = getattr(self, "cleaned_data", {})
        return {
            "algorithm": data.get("algorithm") or None,
            "dataset_id": data.get("version"),
            "status": data.get("status") or None,
            "min_score": data.get("min_score"),
            "max_score": data.get("max_score") if "max_score" in data else None,
            "ordering": data.get("ordering") or "score",
        }


def _query(params: dict[str, Any], **changes: Any) -> str:
    """The page's query string with some parameters changed (None drops one)."""
    merged = {k: v for k, v in params.items() if v not in (None, "")}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return "?" + urlencode(merged) if merged else "?"


def _headers(params: dict[str, Any], ordering: str) -> dict[str, dict]:
    """Per sortable column: the link that sorts by it and its current direction."""
    current = ordering.lstrip("-")
    out = {}
    for key, label in SORTABLE:
        active = key == current
        descending = ordering.startswith("-")
        target = f"-{key}" if active and not descending else key
        out[key] = {
            "label": label,
            "url": _query(params, ordering=target, page=None),
            "active": active,
            "arrow": ("▲" if descending else "▼") if active else "",
            "aria": (
                ("descending" if not descending else "ascending") if active else "none"
            ),
        }
    return out


def _rows(project: Project, experiments: list[Experiment]) -> list[dict]:
    jobs = experiment_jobs([e.pk for e in experiments if e.is_active])
    metric = project.primary_metric
    return [
        {
            "e": e,
            "label": algorithm_label(project.task_type, e.algorithm),
            "cv": cv_of(e, metric),
            "passes": e.passes_threshold,
            "job": jobs.get(e.pk),
        }
        for e in experiments
    ]


def _leaderboard(project: Project, leaders: list[dict]) -> str | None:
    rows = [
        {
            # Short labels: the baseline's default name is long and says little.
            "name": f"#{r['id']} on v{r['dataset__version']}"
            if r["is_baseline"]
            else f"#{r['id']} {r['name'] or r['algorithm']}",
            "score": r["primary_score"],
            "baseline": r["is_baseline"],
        }
        for r in leaders
    ]
    fig = leaderboard_figure(
        rows,
        project.primary_metric,
        threshold=project.success_threshold,
        higher_is_better=project.higher_is_better,
    )
    return figure_json(fig) if fig is not None else None


def varying_params(rows: list[dict], limit: int = PARALLEL_MAX_PARAMS) -> list[str]:
    """Parameter names with more than one value across the rows, at most ``limit``."""
    names = sorted({name for row in rows for name in row})
    varying = [name for name in names if len({repr(row.get(name)) for row in rows}) > 1]
    return varying[:limit]


def _parallel(project: Project, algorithm: str | None) -> dict:
    chosen, rows = experiment_parallel_rows(project, algorithm)
    out = {
        "algorithm": chosen,
        "label": algorithm_label(project.task_type, chosen) if chosen else "",
        "n": len(rows),
        "json": None,
        "params": [],
    }
    if chosen is None or len(rows) < 2:
        return out
    metric = project.primary_metric
    params = varying_params([r["params"] for r in rows])
    out["params"] = params
    if not params:
        return out
    fig = parallel_coordinates_figure(
        [{**r["params"], metric: r["score"]} for r in rows], params, metric
    )
    out["json"] = figure_json(fig) if fig is not None else None
    return out


def _test_use(versions: list[tuple[int, int]]) -> list[dict]:
    """Per version with experiments, newest first: the looks at its test split."""
    looks = dataset_test_looks([pk for pk, _version in versions])
    return [{"version": version, "looks": looks[pk]} for pk, version in versions]


def evaluation_step(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 7: the team view (GET only; filters travel in the query string)."""
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    if request.method != "GET":
        return HttpResponse("This page takes no input; use its links.", status=405)
    facets = experiment_facets(project)
    form = FilterForm(request.GET or None, project=project, facets=facets)
    status = 200
    if request.GET and not form.is_valid():
        status = 400
    filters = form.filters()
    queryset = experiments_filtered(project, **filters)
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    experiments = list(page.object_list)
    params = {
        k: request.GET.get(k)
        for k in ("algorithm", "version", "status", "min_score", "max_score")
        if k not in form.errors
    }
    params["ordering"] = filters["ordering"] if request.GET.get("ordering") else None
    # One leaderboard query answers both "is anything trained?" and the chart.
    leaders = experiment_leaderboard(project) if facets["algorithms"] else []
    any_trained = bool(leaders)
    context = {
        "form": form,
        "page": page,
        "rows": _rows(project, experiments),
        "headers": _headers(params, filters["ordering"]),
        "filtered": any(
            filters[k] not in (None, "")
            for k in ("algorithm", "dataset_id", "status", "min_score", "max_score")
        ),
        "has_experiments": bool(facets["algorithms"]),
        "any_trained": any_trained,
        "prev_url": _query(params, page=page.previous_page_number())
        if page.has_previous()
        else "",
        "next_url": _query(params, page=page.next_page_number())
        if page.has_next()
        else "",
        "leaderboard_json": _leaderboard(project, leaders) if any_trained else None,
        "parallel": _parallel(project, filters["algorithm"]) if any_trained else {},
        "max_compared": MAX_COMPARED,
        "test_use": _test_use(facets["versions"]) if any_trained else [],
    }
    return render_step(
        request, project, "evaluation", "projects/step_evaluation.html", context, status
    )


# ----------------------------------------------------------------- compare


def _ids(values: list[str]) -> list[int]:
    """Distinct positive integer ids in the order given; anything else ignored."""
    seen: list[int] = []
    for value in values:
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if number > 0 and number not in seen:
            seen.append(number)
    return seen


def _metric_rows(project: Project, experiments: list[Experiment]) -> list[dict]:
    """One row per metric: each experiment's validation value (cv and test too),
    the best one marked."""
    names: list[str] = []
    for e in experiments:
        for split in ("validation", "train"):
            for name in (e.metrics or {}).get(split) or {}:
                if name not in names:
                    names.append(name)
    primary = project.primary_metric
    names.sort(key=lambda n: n != primary)
    directions = METRICS.get(project.task_type, {})
    rows = []
    for name in names:
        cells = []
        for e in experiments:
            metrics = e.metrics or {}
            cells.append(
                {
                    "validation": (metrics.get("validation") or {}).get(name),
                    "train": (metrics.get("train") or {}).get(name),
                    "test": (metrics.get("test") or {}).get(name),
                    "cv": cv_of(e, name),
                }
            )
        values = [c["validation"] for c in cells if c["validation"] is not None]
        if len(values) > 1 and name in directions:
            best = max(values) if directions[name] else min(values)
            for c in cells:
                c["best"] = c["validation"] == best
        rows.append(
            {
                "name": name,
                "primary": name == primary,
                "higher": directions.get(name, True),
                "cells": cells,
            }
        )
    return rows


def _param_rows(experiments: list[Experiment], show_all: bool) -> list[dict]:
    differ = set(params_that_differ(experiments))
    names = sorted({n for e in experiments for n in e.params})
    shown = names if show_all else [n for n in names if n in differ]
    return [
        {
            "name": name,
            "differs": name in differ,
            "values": [e.params.get(name, "—") for e in experiments],
        }
        for name in shown
    ]


def _compare_charts(project: Project, experiments: list[Experiment]) -> list[dict]:
    evaluations = {
        f"#{e.pk} {e.name or e.algorithm}": e.evaluation or {} for e in experiments
    }
    figures = []
    if project.task_type == "classification":
        figures = [
            ("roc", roc_figure({k: v.get("roc") for k, v in evaluations.items()})),
            ("pr", pr_figure({k: v.get("pr") for k, v in evaluations.items()})),
        ]
    elif project.task_type == "regression":
        figures = [
            (
                "residual-hist",
                compare_charts.residual_hist_overlay_figure(
                    {k: v.get("residual_hist") for k, v in evaluations.items()}
                ),
            ),
            (
                "predicted-vs-actual",
                compare_charts.predicted_vs_actual_overlay_figure(
                    {k: v.get("scatter") for k, v in evaluations.items()}
                ),
            ),
        ]
    names = list(evaluations)
    return [
        {
            "key": key,
            "json": chart_json(compare_charts.colour_by_name(fig, names), half=True),
        }
        for key, fig in figures
        if fig is not None
    ]


@login_required
@require_GET
def experiments_compare(request: HttpRequest, slug: str) -> HttpResponse:
    """Chosen experiments side by side (``?ids=1&ids=2``; 2 to 8 of the project;
    ids of other projects are ignored like ids that do not exist)."""
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    wanted = _ids(request.GET.getlist("ids"))
    experiments = experiments_compared(project, wanted)
    show_all = request.GET.get("params") == "all"
    context: dict[str, Any] = {
        "experiments": [
            {
                "e": e,
                "label": algorithm_label(project.task_type, e.algorithm),
                "passes": e.passes_threshold,
            }
            for e in experiments
        ],
        "too_many": len(wanted) > MAX_COMPARED,
        "ignored": max(0, min(len(wanted), MAX_COMPARED) - len(experiments)),
        "max_compared": MAX_COMPARED,
        "show_all": show_all,
        "ids_query": urlencode([("ids", e.pk) for e in experiments]),
    }
    if len(experiments) >= 2:
        context.update(
            metric_rows=_metric_rows(project, experiments),
            param_rows=_param_rows(experiments, show_all),
            n_params=len({n for e in experiments for n in e.params}),
            charts=_compare_charts(project, experiments),
        )
    return render_step(request, project, "evaluation", "projects/compare.html", context)
