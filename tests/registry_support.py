"""A messy upload, a recipe that really changes it, and a trained experiment on it,
for the registration tests (services, API, pages).

The recipe drops an identifier, trims whitespace, reads money written as text as
numbers and fills missing values, and removes no row: row i of the prepared
version is row i of the upload, so a test can take the validation rows as raw
rows. Training runs for real the first time in a test session; later callers get
a copy of that run's stored results and of its signed model file (the same
bytes: the same data, recipe, split and seed give the same model), on their own
prepared version, without training again.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
from django.core.files.storage import default_storage

from projects.models import Dataset, Experiment
from projects.services.datasets import dataset_upload
from projects.services.files import file_store_bytes
from projects.services.preparation import dataset_prepare
from tests.views.evaluation_support import STORED, train_for_real

RECIPE = {
    "steps": [
        {"op": "drop_columns", "columns": ["customer_id"]},
        {"op": "trim_whitespace", "columns": ["city"]},
        {"op": "to_number", "column": "income"},
        {"op": "impute", "column": "income", "strategy": "median"},
        {"op": "impute", "column": "age", "strategy": "median"},
    ]
}
SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1}
_RUN: dict = {}


def messy_frame(rows: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows).astype(float)
    income = rng.lognormal(10, 0.6, rows).round(-2)
    city = rng.choice(["Paris", " Paris", "Lyon ", "Nice", "Lyon"], rows)
    sex = rng.choice(["female", "male"], rows)
    score = (age - 45) / 15 + (np.log(income) - 10) + (city == "Nice") * 0.8
    churn = np.where(score + rng.normal(0, 0.8, rows) > 0.3, "yes", "no")
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "age": age,
            "income": [f"${v:,.0f}" for v in income],
            "city": city,
            "sex": sex,
            "churn": churn,
        }
    )
    frame.loc[rng.choice(rows, rows // 10, replace=False), "age"] = np.nan
    frame.loc[rng.choice(rows, rows // 12, replace=False), "income"] = None
    return frame


def write_messy_csv(path: Path) -> Path:
    messy_frame().to_csv(path, index=False)
    return path


def messy_prepared(project, owner, profile_jobs, tmp_path) -> Dataset:
    """Version 1 (the messy upload) prepared by RECIPE as version 2 (real jobs)."""
    project.target_column = "churn"
    project.sensitive_columns = ["sex"]
    project.business_goal = "Call the customers most likely to leave first."
    project.save()
    with profile_jobs():
        uploaded, _job = dataset_upload(
            project=project,
            user=owner,
            path=write_messy_csv(tmp_path / "customers.csv"),
            filename="customers.csv",
        )
    uploaded.refresh_from_db()
    assert uploaded.status == "ready", uploaded.error
    with profile_jobs():
        prepared, _job = dataset_prepare(
            dataset=uploaded, user=owner, recipe=RECIPE, split=SPLIT
        )
    prepared.refresh_from_db()
    assert prepared.status == "ready", prepared.error
    return prepared


def trained_on(profile_jobs, prepared: Dataset, user) -> Experiment:
    """A succeeded logistic regression (with its baseline) on the prepared version:
    trained for real once per session, copied (results and model file) after."""
    if not _RUN:
        experiment = train_for_real(profile_jobs, prepared, "logistic_regression", user)
        with default_storage.open(experiment.artifact.name, "rb") as fh:
            _RUN.update(
                experiment={n: copy.deepcopy(getattr(experiment, n)) for n in STORED},
                baseline={
                    n: copy.deepcopy(getattr(experiment.baseline, n)) for n in STORED
                },
                baseline_algorithm=experiment.baseline.algorithm,
                model=fh.read(),
                sha256=experiment.artifact_sha256,
            )
        return experiment
    project = prepared.project
    baseline = Experiment.objects.create(
        project=project,
        dataset=prepared,
        algorithm=_RUN["baseline_algorithm"],
        is_baseline=True,
        created_by=user,
        **copy.deepcopy(_RUN["baseline"]),
    )
    name = file_store_bytes(
        f"models/{project.pk}/copy-{prepared.pk}.lcmodel", _RUN["model"]
    )
    return Experiment.objects.create(
        project=project,
        dataset=prepared,
        algorithm="logistic_regression",
        baseline=baseline,
        created_by=user,
        artifact=name,
        artifact_sha256=_RUN["sha256"],
        **copy.deepcopy(_RUN["experiment"]),
    )
