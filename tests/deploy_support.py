"""A registered model version without running jobs, for the step-9 tests.

Registration itself (from a trained experiment, through the real jobs) is tested in
tests/services/test_registry.py. Approval, keys and serving tests only need *a*
version: a real signed serving pipeline fitted here on the churn table of
tests.helpers.write_csv, stored as a registration stores it, with the schema,
metrics and contract fields filled in the registered shape.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pandas as pd
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from projects.ml.artifacts import dump_model
from projects.ml.serving import ServingPipeline
from projects.models import Dataset, Experiment, ModelVersion
from tests.helpers import churn_frame

NUMERIC = ["age", "income"]
CATEGORICAL = ["city", "sex"]
TARGET = "churn"


def fit_serving(frame: pd.DataFrame, *, C: float = 1.0) -> ServingPipeline:
    features = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    pipeline = Pipeline(
        [("features", features), ("model", LogisticRegression(C=C, max_iter=500))]
    )
    X, y = frame[NUMERIC + CATEGORICAL], frame[TARGET]
    pipeline.fit(X, y)
    return ServingPipeline(
        recipes=[],
        pipeline=pipeline,
        input_columns=NUMERIC + CATEGORICAL,
        task_type="classification",
        classes=[str(c) for c in pipeline.classes_],
    )


def churn_schema(frame: pd.DataFrame) -> dict:
    columns = []
    for name in NUMERIC:
        values = frame[name]
        columns.append(
            {
                "name": name,
                "kind": "numeric",
                "min": float(values.min()),
                "max": float(values.max()),
                "nullable": bool(values.isna().any()),
            }
        )
    for name in CATEGORICAL:
        columns.append(
            {
                "name": name,
                "kind": "categorical",
                "categories": sorted(frame[name].dropna().unique().tolist()),
                "nullable": bool(frame[name].isna().any()),
            }
        )
    return {
        "columns": columns,
        "target": TARGET,
        "task_type": "classification",
        "classes": ["no", "yes"],
    }


def store_serving(serving: ServingPipeline, project_id: int) -> tuple[str, str]:
    """Sign and store a serving pipeline as registration does: (name, sha256)."""
    data = dump_model(
        serving,
        key=settings.MODEL_SIGNING_KEY.encode(),
        metadata={"project_id": project_id, "kind": "serving"},
    )
    key = f"models/{project_id}/versions/{uuid.uuid4().hex}.lcmodel"
    name = default_storage.save(key, ContentFile(data))
    return name, hashlib.sha256(data).hexdigest()


def make_version(
    project,
    user,
    *,
    passes: bool = True,
    score: float = 0.8,
    C: float = 1.0,
    seed: int = 0,
) -> ModelVersion:
    """A succeeded experiment and its registered version (the next number)."""
    frame = churn_frame(seed=seed)
    if not project.target_column:
        project.target_column = TARGET
        project.save(update_fields=["target_column"])
    dataset = Dataset.objects.filter(project=project).first()
    if dataset is None:
        dataset = Dataset.objects.create(
            project=project,
            version=1,
            original_name="churn.csv",
            source_format="csv",
            status="ready",
            n_rows=len(frame),
            n_columns=frame.shape[1],
            sha256="0" * 64,
            created_by=user,
        )
    experiment = Experiment.objects.create(
        project=project,
        dataset=dataset,
        algorithm="logistic_regression",
        params={"C": C},
        status=Experiment.Status.SUCCEEDED,
        metrics={"validation": {project.primary_metric: score}},
        primary_score=score,
        created_by=user,
    )
    name, sha = store_serving(fit_serving(frame, C=C), project.pk)
    number = ModelVersion.objects.filter(project=project).order_by("-version").first()
    return ModelVersion.objects.create(
        project=project,
        experiment=experiment,
        version=(number.version + 1) if number else 1,
        artifact=name,
        artifact_sha256=sha,
        schema=churn_schema(frame),
        metrics={"validation": {project.primary_metric: score}},
        contract={
            "passes": passes,
            "parts": [
                {
                    "name": "primary_metric",
                    "label": f"{project.primary_metric} on validation",
                    "value": score,
                    "threshold": project.success_threshold,
                    "passes": passes,
                }
            ],
        },
        lineage={"dataset_id": dataset.pk, "dataset_sha256": dataset.sha256},
        card={"intended_use": "Tests."},
        created_by=user,
    )


def raw_rows(rows: int = 5, seed: int = 1) -> list[dict]:
    """Raw rows a client would send, as JSON gives them (a missing value is null)."""
    frame = churn_frame(rows=rows, seed=seed).drop(columns=[TARGET])
    return json.loads(frame.to_json(orient="records"))
