"""Steps 5-7 over the API: the catalog, experiments, evaluation, comments."""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from ninja import Body, Field, Query, Router, Schema, Status
from pydantic import StrictBool

from projects.access import get_dataset_for, get_experiment_for, get_project_for
from projects.api.responses import reads, writes
from projects.api.schemas import AlgorithmLiteral, BodyIn, Id, Int, TestSplitUsedOut
from projects.models import Experiment, Role
from projects.selectors import (
    EXPERIMENT_ORDERINGS,
    experiment_comments,
    experiment_jobs,
    experiment_vs_baseline,
    experiments_filtered,
)
from projects.services.experiments import (
    TestSplitUsed,
    experiment_cancel,
    experiment_comment_add,
    experiment_create,
    experiment_evaluate_test,
    experiment_set_threshold,
    project_catalog,
)

router = Router(tags=["experiments"])

MAX_PER_PAGE = 200


class ExperimentIn(BodyIn):
    dataset_id: Id
    algorithm: AlgorithmLiteral
    params: dict[str, Any] | None = None
    features: dict[str, Any] | None = None
    name: str = Field("", max_length=120)
    # 0 (no cross-validation) or 2-20 folds.
    cv_folds: Int(0, 20) = Field(5, json_schema_extra={"not": {"const": 1}})
    random_state: Int(0, 2**32 - 1) = 0


# "score" (best first), ..., or any of them prefixed "-" to reverse.
OrderingLiteral = Literal[
    tuple(f"{sign}{key}" for key in EXPERIMENT_ORDERINGS for sign in ("", "-"))
]


class ExperimentFilters(Schema):
    ordering: OrderingLiteral = "score"
    algorithm: str | None = None
    status: str | None = None
    dataset_id: int | None = Field(None, ge=1, le=2**63 - 1)
    min_score: float | None = None
    max_score: float | None = None
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=MAX_PER_PAGE)


class ThresholdIn(BodyIn):
    threshold: float = Field(..., ge=0, le=1)


class EvaluateTestIn(BodyIn):
    # Needed when another experiment already looked at the version's test split.
    confirm: StrictBool = False


class CommentIn(BodyIn):
    # Something to read, and no NUL (PostgreSQL cannot store one).
    body: str = Field(
        ..., min_length=1, max_length=5000, pattern=r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )


def _job(job) -> dict | None:
    if job is None:
        return None
    return {
        "id": job.id,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
    }


def experiment_summary(experiment: Experiment, job=None) -> dict:
    """The row of the table and leaderboard (no heavy fields)."""
    return {
        "id": experiment.pk,
        "name": experiment.name,
        "algorithm": experiment.algorithm,
        "params": experiment.params,
        "status": experiment.status,
        "is_baseline": experiment.is_baseline,
        "baseline_id": experiment.baseline_id,
        "dataset_id": experiment.dataset_id,
        "dataset_version": experiment.dataset.version,
        "primary_score": experiment.primary_score,
        "passes_threshold": experiment.passes_threshold,
        "fit_seconds": experiment.fit_seconds,
        "predict_ms_per_row": experiment.predict_ms_per_row,
        "comments": getattr(experiment, "n_comments", None),
        "tested": experiment.test_evaluated_at is not None,
        "created_by": experiment.created_by.username if experiment.created_by else None,
        "created_at": experiment.created_at,
        "job": _job(job),
    }


def experiment_detail(experiment: Experiment) -> dict:
    project = experiment.project
    vs = experiment_vs_baseline(experiment)
    baseline, base_metrics, beats = vs["baseline"], vs["metrics"], vs["beats"]
    dataset = experiment.dataset
    return {
        **experiment_summary(
            experiment, experiment_jobs([experiment.pk]).get(experiment.pk)
        ),
        "primary_metric": project.primary_metric,
        "higher_is_better": project.higher_is_better,
        "success_threshold": project.success_threshold,
        "metrics": experiment.metrics,
        "baseline": None
        if baseline is None
        else {"id": baseline.pk, "status": baseline.status, "metrics": base_metrics},
        "beats_baseline": beats,
        "predict_ms_single": experiment.predict_ms_single,
        "model_size_bytes": experiment.model_size_bytes,
        "artifact_sha256": experiment.artifact_sha256,
        "threshold": experiment.threshold,
        "feature_spec": experiment.feature_spec,
        "features_overridden": experiment.features_overridden,
        "cv_folds": experiment.cv_folds,
        "random_state": experiment.random_state,
        "info": experiment.info,
        "error": experiment.error,
        "log": experiment.log,
        "test_evaluated_at": experiment.test_evaluated_at,
        "lineage": {
            "dataset_id": dataset.pk,
            "dataset_version": dataset.version,
            "parent_id": dataset.parent_id,
            "recipe_steps": len((dataset.recipe or {}).get("steps", [])),
            "split": (dataset.split or {}).get("counts"),
            "features": "override" if experiment.features_overridden else "project",
        },
        "started_at": experiment.started_at,
        "finished_at": experiment.finished_at,
    }


@router.get("/projects/{int:project_id}/catalog", response=reads({200: dict}))
def catalog(
    request,
    project_id: int,
    dataset_id: int | None = Query(None, ge=1, le=2**63 - 1),
):
    """Algorithms for the project's task: defaults, parameter schemas, when they
    fit; with ``dataset_id``, a suggested short list for that version."""
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    dataset = None
    if dataset_id is not None:
        dataset = get_dataset_for(request.user, dataset_id, need=Role.VIEWER)
        if dataset.project_id != project.pk:
            raise ValidationError(
                {"dataset_id": "That version belongs to another project."}
            )
    return project_catalog(project=project, dataset=dataset)


@router.post(
    "/projects/{int:project_id}/experiments", response=writes({202: dict}, 503)
)
def create_experiment(request, project_id: int, payload: ExperimentIn):
    """Train a candidate on a prepared version (and its baseline, if missing)."""
    project = get_project_for(request.user, project_id, need=Role.SCIENTIST)
    dataset = get_dataset_for(request.user, payload.dataset_id, need=Role.SCIENTIST)
    experiment = experiment_create(
        project=project,
        dataset=dataset,
        algorithm=payload.algorithm,
        params=payload.params,
        features=payload.features,
        name=payload.name,
        cv_folds=payload.cv_folds,
        random_state=payload.random_state,
        user=request.user,
    )
    return Status(
        202,
        {
            "id": experiment.pk,
            "baseline_id": experiment.baseline_id,
            "job": {"id": experiment.job.id, "status": experiment.job.status},
        },
    )


@router.get("/projects/{int:project_id}/experiments", response=reads({200: dict}))
def list_experiments(request, project_id: int, filters: Query[ExperimentFilters]):
    """The experiments table / leaderboard: filtered, ordered, paginated.

    ``ordering``: score (best first), created, algorithm, fit_seconds, latency,
    status, version; prefix ``-`` to reverse.
    """
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    try:
        qs = experiments_filtered(
            project,
            algorithm=filters.algorithm,
            status=filters.status,
            dataset_id=filters.dataset_id,
            min_score=filters.min_score,
            max_score=filters.max_score,
            ordering=filters.ordering,
        )
    except ValueError as exc:
        raise ValidationError({"ordering": str(exc)}) from None
    page = Paginator(qs, filters.per_page).get_page(filters.page)
    rows = list(page.object_list)
    jobs = experiment_jobs([e.pk for e in rows])
    return {
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "primary_metric": project.primary_metric,
        "results": [experiment_summary(e, jobs.get(e.pk)) for e in rows],
    }


@router.get("/experiments/{int:experiment_id}", response=reads({200: dict}))
def get_experiment(request, experiment_id: int):
    """Metrics (cv, train, validation, test once evaluated), baseline, timings."""
    experiment = get_experiment_for(request.user, experiment_id, need=Role.VIEWER)
    return experiment_detail(experiment)


@router.get("/experiments/{int:experiment_id}/evaluation", response=reads({200: dict}))
def get_evaluation(request, experiment_id: int):
    """The dashboard data (aggregated curves and tables; never raw rows)."""
    experiment = get_experiment_for(request.user, experiment_id, need=Role.VIEWER)
    return {
        "validation": experiment.evaluation,
        "test": experiment.test_evaluation,
    }


@router.post("/experiments/{int:experiment_id}/cancel", response=writes({200: dict}))
def cancel_experiment(request, experiment_id: int):
    experiment = get_experiment_for(request.user, experiment_id, need=Role.SCIENTIST)
    experiment = experiment_cancel(experiment=experiment, user=request.user)
    return experiment_detail(experiment)


def test_looks_out(looks) -> list[dict]:
    return [
        {
            "experiment_id": look.experiment_id,
            "at": look.at,
            "by": look.by.username if look.by else None,
        }
        for look in looks
    ]


@router.post(
    "/experiments/{int:experiment_id}/evaluate-test",
    response={**writes({202: dict}, 503), 409: TestSplitUsedOut},
)
def evaluate_test(
    request,
    experiment_id: int,
    # Optional, but never null: no body (or {}) is a first look.
    payload: Body[EvaluateTestIn] = EvaluateTestIn(),
):
    """The final evaluation on the test split: once per experiment, audited.

    The looks are counted per data version: when another experiment already used
    this version's test split, the answer is 409 naming the earlier looks, unless
    the body says ``{"confirm": true}``. A second call for the same experiment is
    400, whether its evaluation finished or still runs."""
    experiment = get_experiment_for(request.user, experiment_id, need=Role.SCIENTIST)
    try:
        job = experiment_evaluate_test(
            experiment=experiment,
            user=request.user,
            confirm=payload is not None and payload.confirm,
        )
    except TestSplitUsed as exc:
        return Status(
            409,
            {
                "message": f'{exc.message} Send {{"confirm": true}} to look anyway; '
                "the look is audited.",
                "field": "confirm",
                "test_looks": test_looks_out(exc.looks),
            },
        )
    return Status(
        202, {"id": experiment.pk, "job": {"id": job.id, "status": job.status}}
    )


@router.post("/experiments/{int:experiment_id}/threshold", response=writes({200: dict}))
def set_threshold(request, experiment_id: int, payload: ThresholdIn):
    """Save the decision threshold of a binary classifier; answers its metrics."""
    experiment = get_experiment_for(request.user, experiment_id, need=Role.SCIENTIST)
    return experiment_set_threshold(
        experiment=experiment, threshold=payload.threshold, user=request.user
    )


def _comment(comment) -> dict:
    return {
        "id": comment.pk,
        "author": comment.author.username if comment.author else None,
        "body": comment.body,
        "created_at": comment.created_at,
    }


@router.get(
    "/experiments/{int:experiment_id}/comments", response=reads({200: list[dict]})
)
def list_comments(request, experiment_id: int):
    experiment = get_experiment_for(request.user, experiment_id, need=Role.VIEWER)
    return [_comment(c) for c in experiment_comments(experiment)]


@router.post("/experiments/{int:experiment_id}/comments", response=writes({201: dict}))
def add_comment(request, experiment_id: int, payload: CommentIn):
    """Any member may comment, viewers included."""
    experiment = get_experiment_for(request.user, experiment_id, need=Role.VIEWER)
    comment = experiment_comment_add(
        experiment=experiment, user=request.user, body=payload.body
    )
    return Status(201, _comment(comment))
