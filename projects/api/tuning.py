"""Step 8 over the API: tuning studies."""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import ValidationError
from ninja import Router, Status
from pydantic import ConfigDict

from projects.access import (
    get_dataset_for,
    get_experiment_for,
    get_project_for,
    get_study_for,
)
from projects.api.responses import reads, writes
from projects.api.schemas import AlgorithmLiteral, BodyIn, Id, Int
from projects.ml.errors import SpecError
from projects.ml.tuning import STRATEGIES, default_search_space
from projects.models import Role, Study
from projects.selectors import studies_of, study_trials
from projects.services.tuning import (
    MAX_TIME_BUDGET_S,
    MAX_TRIALS,
    study_cancel,
    study_check_progress,
    study_create,
    study_importance,
)

router = Router(tags=["tuning"])


class StudyIn(BodyIn):
    # In the document: a budget, of trials or of seconds (or both).
    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "integer"}}}
                for name in ("max_trials", "time_budget_s")
            ]
        },
    )

    dataset_id: Id
    algorithm: AlgorithmLiteral
    strategy: Literal[STRATEGIES]
    # A budget: trials, seconds, or both.
    max_trials: Int(1, MAX_TRIALS) | None = None
    time_budget_s: Int(10, MAX_TIME_BUDGET_S) | None = None
    search_space: dict[str, Any] | None = None
    features: dict[str, Any] | None = None
    cv_folds: Int(2, 20) = 5
    random_state: Int(0, 2**32 - 1) = 0
    parallelism: Int(1, 32) | None = None
    experiment_id: Id | None = None


def study_summary(study: Study) -> dict:
    return {
        "id": study.pk,
        "status": study.status,
        "strategy": study.strategy,
        "algorithm": study.algorithm,
        "dataset_id": study.dataset_id,
        "metric": study.metric,
        "higher_is_better": study.higher_is_better,
        "max_trials": study.max_trials,
        "time_budget_s": study.time_budget_s,
        "n_trials": study.n_trials,
        "best": {
            "params": study.best_params,
            "score": study.best_score,
            "trial": study.best_trial_number,
            "experiment_id": study.best_experiment_id,
        },
        # What was trained: the best, or the defaults when the best's lead over
        # them was within one standard error (docs/tuning.md); {} until the end.
        "selection": study.selection,
        # While the best is checked on new folds (status finishing):
        # {folds_done, folds}; null otherwise.
        "check": study_check_progress(study),
        "created_at": study.created_at,
        "started_at": study.started_at,
        "finished_at": study.finished_at,
    }


def study_detail(study: Study) -> dict:
    return {
        **study_summary(study),
        "search_space": study.search_space,
        "cv_folds": study.cv_folds,
        "parallelism": study.parallelism,
        "error": study.error,
        "importance": study_importance(study),
        "trials": [
            {
                "number": t.number,
                "params": t.params,
                "score": t.score,
                "status": t.status,
                "seconds": t.seconds,
                "error": t.error,
                "intermediate": t.intermediate,
                "is_defaults": t.is_defaults,
            }
            for t in study_trials(study)
        ],
    }


@router.get("/projects/{int:project_id}/search-space", response=reads({200: dict}))
def search_space(request, project_id: int, algorithm: AlgorithmLiteral):
    """The proposed search space of an algorithm (edit it and send it back)."""
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    try:
        space = default_search_space(project.task_type, algorithm)
    except SpecError as exc:
        raise ValidationError({"algorithm": exc.message}) from None
    return {
        "algorithm": algorithm,
        "strategies": list(STRATEGIES),
        "search_space": space,
    }


@router.post("/projects/{int:project_id}/studies", response=writes({202: dict}, 503))
def create_study(request, project_id: int, payload: StudyIn):
    """Start a study: trials run as jobs on every worker of the training queue."""
    project = get_project_for(request.user, project_id, need=Role.SCIENTIST)
    dataset = get_dataset_for(request.user, payload.dataset_id, need=Role.SCIENTIST)
    source = None
    if payload.experiment_id is not None:
        source = get_experiment_for(
            request.user, payload.experiment_id, need=Role.SCIENTIST
        )
        if source.project_id != project.pk:
            raise ValidationError(
                {"experiment_id": "That experiment belongs to another project."}
            )
    study = study_create(
        project=project,
        dataset=dataset,
        algorithm=payload.algorithm,
        strategy=payload.strategy,
        max_trials=payload.max_trials,
        time_budget_s=payload.time_budget_s,
        search_space=payload.search_space,
        features=payload.features,
        cv_folds=payload.cv_folds,
        random_state=payload.random_state,
        parallelism=payload.parallelism,
        source_experiment=source,
        user=request.user,
    )
    first = study.jobs[0]
    return Status(
        202,
        {
            "id": study.pk,
            "job": {"id": first.id, "status": first.status},
            "jobs": [{"id": j.id, "status": j.status} for j in study.jobs],
        },
    )


@router.get("/projects/{int:project_id}/studies", response=reads({200: list[dict]}))
def list_studies(request, project_id: int):
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    return [study_summary(s) for s in studies_of(project)]


@router.get("/studies/{int:study_id}", response=reads({200: dict}))
def get_study(request, study_id: int):
    """Status, every trial (parameters, score, status, seconds), the best, and
    parameter importance once at least 5 trials finished."""
    study = get_study_for(request.user, study_id, need=Role.VIEWER)
    return study_detail(study)


@router.post("/studies/{int:study_id}/cancel", response=writes({200: dict}))
def cancel_study(request, study_id: int):
    """Stop a study; finished trials and the best result are kept."""
    study = get_study_for(request.user, study_id, need=Role.SCIENTIST)
    return study_detail(study_cancel(study=study, user=request.user))
