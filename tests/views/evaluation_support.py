"""Trained experiments for the step 7 page tests.

Training plus the analysis job takes 10-20 s on a busy two-core machine, and most
page tests only read what the jobs stored. So the first test that asks trains for
real (experiment_create, the training and analysis jobs, a real worker); later
tests copy what that run stored onto fresh rows of their own prepared version.
Tests that need the model file itself (the final test evaluation) train for real.
"""

from __future__ import annotations

import copy

from projects.models import Experiment
from projects.services.experiments import experiment_create

STORED = (
    "status",
    "metrics",
    "primary_score",
    "evaluation",
    "fit_seconds",
    "predict_ms_per_row",
    "predict_ms_single",
    "model_size_bytes",
    "info",
    "log",
    "feature_spec",
    "params",
    "started_at",
    "finished_at",
)
_RUNS: dict[tuple, dict] = {}


def train_for_real(profile_jobs, dataset, algorithm: str, user, **kw) -> Experiment:
    with profile_jobs():
        experiment = experiment_create(
            project=dataset.project,
            dataset=dataset,
            algorithm=algorithm,
            user=user,
            cv_folds=kw.pop("cv_folds", 3),
            **kw,
        )
    experiment.refresh_from_db()
    assert experiment.status == "succeeded", experiment.error
    return experiment


def _stored(experiment: Experiment) -> dict:
    return copy.deepcopy({name: getattr(experiment, name) for name in STORED})


def trained_copy(profile_jobs, dataset, algorithm: str, user, **kw) -> Experiment:
    """A trained experiment (and its baseline) on ``dataset``: real the first
    time for this task and algorithm, a copy of that run's stored results after."""
    project = dataset.project
    key = (project.task_type, project.target_column, project.primary_metric, algorithm)
    if key not in _RUNS:
        experiment = train_for_real(profile_jobs, dataset, algorithm, user, **kw)
        _RUNS[key] = {
            "experiment": _stored(experiment),
            "baseline": _stored(experiment.baseline),
            "baseline_algorithm": experiment.baseline.algorithm,
            "features_overridden": experiment.features_overridden,
        }
        return experiment
    run = copy.deepcopy(_RUNS[key])
    baseline = Experiment.objects.filter(
        project=project, dataset=dataset, is_baseline=True
    ).first() or Experiment.objects.create(
        project=project,
        dataset=dataset,
        algorithm=run["baseline_algorithm"],
        is_baseline=True,
        created_by=user,
        **run["baseline"],
    )
    experiment = Experiment.objects.create(
        project=project,
        dataset=dataset,
        algorithm=algorithm,
        baseline=baseline,
        name=kw.get("name", ""),
        created_by=user,
        features_overridden=run["features_overridden"],
        **run["experiment"],
    )
    return Experiment.objects.get(pk=experiment.pk)
