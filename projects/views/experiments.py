"""Step 7: one experiment's dashboard, and what the team does on it.

The dashboard says first whether the experiment meets the success contract
(primary metric against the baseline and the threshold), then the other metrics,
timings and lineage, then the charts of its task drawn from the aggregated data the
training job stored. The slower analyses (importance, learning curve, fairness)
arrive from a second job: until then a fragment polls for them. Scientists save a
decision threshold and run the once-only final evaluation on the test split; any
member comments. Refused input re-renders the dashboard with the error where the
user acted (400).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from projects.access import can, get_project_for
from projects.charts import evaluation as charts
from projects.jobs import kind_label
from projects.ml.cleaning import OPS
from projects.ml.evaluation import threshold_metrics
from projects.ml.fairness import DEFAULT_BOUND
from projects.models import METRICS, Experiment, JobStatus, Project, Role
from projects.selectors import (
    dataset_test_looks,
    experiment_comments,
    experiment_in_project,
    experiment_latest_jobs,
    experiment_vs_baseline,
)
from projects.services.experiments import (
    TestSplitUsed,
    experiment_comment_add,
    experiment_evaluate_test,
    experiment_set_threshold,
)
from projects.services.jobs import QueueUnavailable
from projects.views.common import error_messages, render_step
from projects.views.evaluation import algorithm_label, chart_json, cv_of

DEFAULT_THRESHOLD = 0.5  # what predict() uses for a binary classifier


def _experiment_for(
    request: HttpRequest, slug: str, experiment_id: int, need: str = Role.VIEWER
) -> tuple[Project, Experiment]:
    project = get_project_for(request.user, slug, need=need)
    experiment = experiment_in_project(project, experiment_id)
    if experiment is None:
        raise Http404("No such experiment.")
    return project, experiment


def _url(experiment: Experiment, name: str = "experiment") -> str:
    return reverse(f"projects:{name}", args=[experiment.project.slug, experiment.pk])


# ----------------------------------------------------------------- summary


def _metric_rows(experiment: Experiment) -> list[dict]:
    metrics = experiment.metrics or {}
    names: list[str] = []
    for split in ("validation", "train", "test"):
        for name in metrics.get(split) or {}:
            if name not in names:
                names.append(name)
    for name in metrics.get("cv") or {}:
        if name not in names:
            names.append(name)
    primary = experiment.project.primary_metric
    names.sort(key=lambda n: n != primary)
    directions = METRICS.get(experiment.project.task_type, {})
    return [
        {
            "name": name,
            "primary": name == primary,
            "higher": directions.get(name, True),
            "cv": cv_of(experiment, name),
            "train": (metrics.get("train") or {}).get(name),
            "validation": (metrics.get("validation") or {}).get(name),
            "test": (metrics.get("test") or {}).get(name),
        }
        for name in names
    ]


def _verdict(project: Project, experiment: Experiment, vs: dict) -> dict:
    """The success contract in one line: PASS / FAIL / not decidable."""
    passes = experiment.passes_threshold
    threshold = project.success_threshold
    if experiment.primary_score is None:
        text = "No validation score yet."
    elif threshold is None:
        text = "The project has no success threshold (step 1), so there is no verdict."
    elif passes:
        text = f"Meets the success threshold: {project.threshold_text}."
    else:
        text = f"Misses the success threshold: {project.threshold_text}."
    return {
        "passes": passes,
        "text": text,
        "score": experiment.primary_score,
        "threshold": threshold,
        "baseline_score": vs["score"],
        "beats": vs["beats"],
        "direction": "higher is better"
        if project.higher_is_better
        else "lower is better",
    }


def _lineage(project: Project, experiment: Experiment) -> dict:
    dataset = experiment.dataset
    parent = dataset.parent
    steps = []
    for step in (dataset.recipe or {}).get("steps") or []:
        columns = step.get("columns") or (
            [step["column"]] if step.get("column") else []
        )
        steps.append(
            {
                "label": OPS.get(step.get("op"), step.get("op")),
                "columns": ", ".join(str(c) for c in columns),
                "enabled": step.get("enabled", True),
            }
        )
    if experiment.features_overridden:
        features = "an override chosen for this experiment"
    elif experiment.feature_spec and experiment.feature_spec == project.feature_spec:
        features = "the project default"
    else:
        features = "the project default at the time (it has changed since)"
    n_columns = len((experiment.feature_spec or {}).get("columns") or {})
    return {
        "dataset": dataset,
        "parent": parent,
        "steps": steps,
        "split": (dataset.split or {}).get("counts"),
        "features": features,
        "n_feature_columns": n_columns,
        "n_features_out": (experiment.info or {}).get("n_features_out"),
    }


def _timings(project: Project, experiment: Experiment) -> dict:
    budget = project.latency_budget_ms
    single = experiment.predict_ms_single
    return {
        "fit_seconds": experiment.fit_seconds,
        "per_row": experiment.predict_ms_per_row,
        "single": single,
        "budget": budget,
        "within": None if budget is None or single is None else single <= budget,
        "size": experiment.model_size_bytes,
    }


# ------------------------------------------------------------------ charts


def _classification_charts(experiment: Experiment, evaluation: dict) -> dict:
    out: dict[str, Any] = {}
    confusion = evaluation.get("confusion")
    if confusion:
        out["confusion_counts"] = chart_json(charts.confusion_figure(confusion))
        out["confusion_share"] = chart_json(
            charts.confusion_figure(confusion, normalized=True)
        )
    out["roc"] = chart_json(
        charts.roc_figure({"this model": evaluation.get("roc")}), half=True
    )
    out["pr"] = chart_json(
        charts.pr_figure({"this model": evaluation.get("pr")}), half=True
    )
    out["calibration"] = chart_json(
        charts.calibration_figure(evaluation.get("calibration"))
    )
    table = evaluation.get("thresholds")
    if table:
        chosen = (
            experiment.threshold
            if experiment.threshold is not None
            else DEFAULT_THRESHOLD
        )
        out["threshold"] = {
            "chart": chart_json(charts.threshold_figure(table, chosen=chosen)),
            "table": json.dumps(
                [
                    {
                        k: row[k]
                        for k in (
                            "threshold",
                            "precision",
                            "recall",
                            "f1",
                            "predicted_positive_rate",
                        )
                    }
                    for row in table
                ],
                separators=(",", ":"),
            ),
            "chosen": chosen,
            "saved": experiment.threshold,
            "at": threshold_metrics(table, chosen),
            "positive": evaluation.get("positive_label"),
        }
    return out


def _regression_charts(evaluation: dict) -> dict:
    by_segment = evaluation.get("by_segment") or {}
    return {
        "predicted_vs_actual": chart_json(
            charts.predicted_vs_actual_figure(evaluation.get("scatter")), half=True
        ),
        "residuals": chart_json(
            charts.residuals_figure(evaluation.get("residuals")), half=True
        ),
        "residual_hist": chart_json(
            charts.residual_hist_figure(evaluation.get("residual_hist"))
        ),
        "segments": [
            {
                "column": column,
                "chart": chart_json(
                    charts.segment_error_figure(by_segment, column), half=True
                ),
            }
            for column in by_segment
        ],
    }


def _clustering_charts(evaluation: dict) -> dict:
    silhouette = evaluation.get("silhouette") or {}
    return {
        "silhouette": chart_json(charts.silhouette_figure(silhouette), half=True),
        "silhouette_note": silhouette.get("note"),
        "sizes": chart_json(
            charts.cluster_sizes_figure(evaluation.get("sizes")), half=True
        ),
        "projection": chart_json(
            charts.projection_figure(evaluation.get("projection"))
        ),
    }


def _charts(project: Project, experiment: Experiment) -> dict:
    evaluation = experiment.evaluation or {}
    if not evaluation:
        return {}
    if project.task_type == "classification":
        return _classification_charts(experiment, evaluation)
    if project.task_type == "regression":
        return _regression_charts(evaluation)
    return _clustering_charts(evaluation)


def _flag_groups(report: dict, higher_is_better: bool) -> list[dict]:
    """The groups of one attribute, each marked when it is more than the bound
    away from the best group on a measure the report flagged."""
    bound = float(report.get("bound") or DEFAULT_BOUND)
    groups = [dict(g) for g in report.get("groups") or []]
    included = [g for g in groups if g.get("included", True)]
    overall = (report.get("overall") or {}).get("metric")
    relative = report.get("metric_relative_difference") is not None
    checks = []
    if (report.get("demographic_parity_difference") or 0) > bound:
        checks.append(("selection_rate", True, False))
    if (report.get("equal_opportunity_difference") or 0) > bound:
        checks.append(("true_positive_rate", True, False))
    compared = (
        report.get("metric_relative_difference")
        if relative
        else report.get("metric_difference")
    )
    if (compared or 0) > bound:
        checks.append(("metric", higher_is_better, relative))
    for key, higher, scaled in checks:
        values = [g[key] for g in included if g.get(key) is not None]
        if not values:
            continue
        best = max(values) if higher else min(values)
        for g in included:
            if g.get(key) is None:
                continue
            gap = abs(best - g[key])
            if scaled and overall:
                gap /= abs(overall)
            if gap > bound:
                g["flagged"] = True
    return groups


def analysis_context(
    project: Project, experiment: Experiment, job, request: HttpRequest
) -> dict:
    """What the analysis part of the dashboard shows, and whether to keep polling."""
    evaluation = experiment.evaluation or {}
    analysis = evaluation.get("analysis")
    context: dict[str, Any] = {
        "experiment": experiment,
        "project": project,
        "analysis_job": job,
        "analysis_job_label": kind_label("analyze_experiment"),
        "next": _url(experiment),
        "can_run": can(request.user, project, Role.SCIENTIST),
    }
    if analysis is None:
        if experiment.is_baseline:
            context["state"] = "baseline"
        elif job is not None and job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            context["state"] = "failed"
        elif not evaluation:
            context["state"] = "none"
        else:
            context["state"] = "running"
        return context
    context["state"] = "ready"
    curve = analysis.get("learning_curve") or {}
    bound = settings.FAIRNESS_BOUND
    context.update(
        importance=chart_json(charts.importance_figure(analysis.get("importance"))),
        learning_curve=chart_json(charts.learning_curve_figure(curve)),
        learning_verdict=(curve.get("verdict") or {}),
        learning_error=curve.get("error"),
        fairness=[
            {
                "attribute": attribute,
                "report": report,
                "groups": _flag_groups(report, project.higher_is_better),
                "chart": chart_json(
                    charts.fairness_figure(report, report.get("bound") or bound),
                    half=True,
                ),
            }
            for attribute, report in (analysis.get("fairness") or {}).items()
        ],
        sensitive=project.sensitive_columns,
        bound=bound,
        task=project.task_type,
    )
    return context


# ---------------------------------------------------------------- the page


def _dashboard(
    request: HttpRequest,
    project: Project,
    experiment: Experiment,
    extra: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    jobs = experiment_latest_jobs(experiment.pk)
    vs = experiment_vs_baseline(experiment)
    can_run = project.user_role in (Role.SCIENTIST, Role.OWNER)
    info = experiment.info or {}
    test_job = jobs.get("evaluate_test")
    test_looks = dataset_test_looks([experiment.dataset_id])[experiment.dataset_id]
    context = {
        "experiment": experiment,
        "label": algorithm_label(project.task_type, experiment.algorithm),
        "train_job": jobs.get("train"),
        "train_job_label": kind_label("train"),
        "test_job": test_job,
        "test_job_label": kind_label("evaluate_test"),
        "test_running": test_job is not None and test_job.status != JobStatus.SUCCEEDED,
        "test_looks": test_looks,
        "verdict": _verdict(project, experiment, vs),
        "baseline": vs["baseline"],
        "metric_rows": _metric_rows(experiment),
        "has_test": bool((experiment.metrics or {}).get("test")),
        "lineage": _lineage(project, experiment),
        "timings": _timings(project, experiment),
        "warnings": info.get("warnings") or [],
        "info": info,
        "params": sorted((experiment.params or {}).items()),
        "charts": _charts(project, experiment)
        if experiment.status == Experiment.Status.SUCCEEDED
        else {},
        "comments": list(experiment_comments(experiment)),
        "can_test": can_run
        and experiment.status == Experiment.Status.SUCCEEDED
        and experiment.test_evaluated_at is None,
        "here": _url(experiment),
    }
    if experiment.status == Experiment.Status.SUCCEEDED:
        context["analysis"] = analysis_context(
            project, experiment, jobs.get("analyze_experiment"), request
        )
    context.update(extra or {})
    return render_step(
        request, project, "evaluation", "projects/experiment.html", context, status
    )


@login_required
@require_GET
def experiment_dashboard(
    request: HttpRequest, slug: str, experiment_id: int
) -> HttpResponse:
    project, experiment = _experiment_for(request, slug, experiment_id)
    return _dashboard(request, project, experiment)


@login_required
@require_GET
def experiment_analysis(
    request: HttpRequest, slug: str, experiment_id: int
) -> HttpResponse:
    """The analysis fragment the dashboard polls until the analyses arrive."""
    project, experiment = _experiment_for(request, slug, experiment_id)
    if experiment.status != Experiment.Status.SUCCEEDED:
        return HttpResponse("This experiment has not finished training.", status=409)
    job = experiment_latest_jobs(experiment.pk).get("analyze_experiment")
    return render(
        request,
        "projects/_experiment_analysis.html",
        {"a": analysis_context(project, experiment, job, request)},
    )


def _require_scientist(request: HttpRequest, project: Project, what: str) -> None:
    if not can(request.user, project, Role.SCIENTIST):
        raise PermissionDenied(f"Only scientists and the owner can {what}.")


@login_required
@require_POST
def experiment_threshold(
    request: HttpRequest, slug: str, experiment_id: int
) -> HttpResponse:
    """Save the decision threshold chosen in the explorer."""
    project, experiment = _experiment_for(request, slug, experiment_id)
    _require_scientist(request, project, "save a threshold")
    raw = request.POST.get("threshold", "").strip()
    try:
        value: Any = float(raw)
    except ValueError:
        value = raw
    if value != value or value in (float("inf"), float("-inf")):
        value = raw  # NaN / infinity are refused like text
    try:
        chosen = experiment_set_threshold(
            experiment=experiment, threshold=value, user=request.user
        )
    except ValidationError as exc:
        errors = error_messages(exc)
        return _dashboard(
            request,
            project,
            experiment,
            {"threshold_error": errors.get("threshold") or " ".join(errors.values())},
            status=400,
        )
    messages.success(
        request,
        f"Saved the decision threshold {chosen['threshold']:.2f}: precision "
        f"{chosen['precision']:.3f}, recall {chosen['recall']:.3f}, "
        f"F1 {chosen['f1']:.3f} on the validation split.",
    )
    return redirect(_url(experiment) + "#threshold")


@login_required
@require_POST
def experiment_test(
    request: HttpRequest, slug: str, experiment_id: int
) -> HttpResponse:
    """Start the once-only final evaluation on the test split."""
    project, experiment = _experiment_for(request, slug, experiment_id)
    _require_scientist(request, project, "run the final evaluation on test")
    # "once" ticks the first look's box, "again" the box of a look at a test
    # split another experiment already used.
    confirm = request.POST.get("confirm")
    if confirm not in ("once", "again"):
        looks = dataset_test_looks([experiment.dataset_id])[experiment.dataset_id]
        if looks and all(x.experiment_id != experiment.pk for x in looks):
            used = TestSplitUsed(experiment.dataset, looks).message
            error = f"{used} Tick the box to look anyway."
        else:
            error = "Tick the box to confirm: the test split is used once."
        return _dashboard(
            request, project, experiment, {"test_error": error}, status=400
        )
    try:
        experiment_evaluate_test(
            experiment=experiment, user=request.user, confirm=confirm == "again"
        )
    except TestSplitUsed as exc:
        experiment.refresh_from_db()
        return _dashboard(
            request,
            project,
            experiment,
            {"test_error": f"{exc.message} Tick the box to look anyway."},
            status=400,
        )
    except ValidationError as exc:
        experiment.refresh_from_db()
        return _dashboard(
            request,
            project,
            experiment,
            {"test_error": " ".join(error_messages(exc).values())},
            status=400,
        )
    except QueueUnavailable as exc:
        experiment.refresh_from_db()
        return _dashboard(
            request, project, experiment, {"test_error": exc.message}, status=503
        )
    messages.success(
        request,
        "Final evaluation on the test split started. It runs once; the results "
        "appear next to validation.",
    )
    return redirect(_url(experiment) + "#test")


@login_required
@require_POST
def experiment_comment(
    request: HttpRequest, slug: str, experiment_id: int
) -> HttpResponse:
    """Any member comments, viewers included."""
    project, experiment = _experiment_for(request, slug, experiment_id)
    body = request.POST.get("body", "")
    try:
        comment = experiment_comment_add(
            experiment=experiment, user=request.user, body=body
        )
    except ValidationError as exc:
        return _dashboard(
            request,
            project,
            experiment,
            {
                "comment_error": " ".join(error_messages(exc).values()),
                "comment_body": body,
            },
            status=400,
        )
    return redirect(_url(experiment) + f"#comment-{comment.pk}")
