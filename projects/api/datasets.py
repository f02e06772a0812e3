from __future__ import annotations

from django.core.exceptions import ValidationError
from ninja import File, Router, Status
from ninja.files import UploadedFile

from projects.access import get_dataset_for, get_project_for
from projects.api.experiments import test_looks_out
from projects.api.responses import reads, writes
from projects.api.schemas import (
    DatasetCreated,
    DatasetOut,
    DatasetSummary,
    PrepareIn,
    PrepareOut,
    PreviewIn,
)
from projects.models import Dataset, Role
from projects.selectors import dataset_test_looks, dataset_versions, latest_job
from projects.services.datasets import dataset_upload
from projects.services.preparation import (
    SPLIT_COLUMN,
    dataset_prepare,
    dataset_preview,
    dataset_suggested_recipe,
)

router = Router(tags=["datasets"])


def _summary(dataset: Dataset) -> dict:
    return {
        "id": dataset.pk,
        "project_id": dataset.project_id,
        "version": dataset.version,
        "parent_id": dataset.parent_id,
        "original_name": dataset.original_name,
        "source_format": dataset.source_format,
        "sha256": dataset.sha256,
        "n_rows": dataset.n_rows,
        "n_columns": dataset.n_columns,
        "size_bytes": dataset.size_bytes,
        "upload_bytes": dataset.upload_bytes,
        "status": dataset.status,
        "created_by": dataset.created_by.username if dataset.created_by else None,
        "created_at": dataset.created_at,
    }


@router.post(
    "/projects/{int:project_id}/datasets",
    response=writes({202: DatasetCreated}, 413, 503),
)
def upload_dataset(request, project_id: int, file: UploadedFile = File(...)):
    """Upload a new version (multipart field ``file``): 202 at once, with the
    ``ingest`` job that reads, checks and profiles it; the version is usable
    (``status`` "ready") when that job succeeds, and removed if it fails."""
    project = get_project_for(request.user, project_id, need=Role.SCIENTIST)
    if not hasattr(file, "temporary_file_path"):
        raise ValidationError({"file": "The upload could not be read."})
    try:
        dataset, job = dataset_upload(
            project=project,
            user=request.user,
            path=file.temporary_file_path(),
            filename=file.name or "",
        )
    finally:
        file.close()
    return Status(
        202,
        {
            "id": dataset.pk,
            "version": dataset.version,
            "job": {"id": job.id, "status": job.status},
        },
    )


@router.get(
    "/projects/{int:project_id}/datasets", response=reads({200: list[DatasetSummary]})
)
def list_datasets(request, project_id: int):
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    return [_summary(d) for d in dataset_versions(project)]


@router.get("/datasets/{int:dataset_id}", response=reads({200: DatasetOut}))
def get_dataset(request, dataset_id: int):
    dataset = get_dataset_for(request.user, dataset_id, need=Role.VIEWER)
    profile = dataset.profile or {}
    columns_by_name = {c["name"]: c for c in profile.get("columns", [])}
    columns = [
        {**field, **columns_by_name.get(field["name"], {})}
        for field in dataset.schema
        if field["name"] != SPLIT_COLUMN
    ]
    job = latest_job("dataset", dataset.pk, ("ingest", "profile", "analyze", "prepare"))
    return {
        **_summary(dataset),
        "columns": columns,
        "warnings": profile.get("warnings", []),
        "profile": dataset.profile,
        "analysis": dataset.analysis,
        "job": {"id": job.id, "status": job.status} if job else None,
        "recipe": dataset.recipe,
        "report": dataset.report,
        "split": _split_out(dataset.split),
        "error": dataset.error,
        "test_looks": test_looks_out(dataset_test_looks([dataset.pk])[dataset.pk]),
    }


def _split_out(split: dict | None) -> dict | None:
    if not split:
        return None
    counts = split.get("counts") or {}
    # ``train``/``validation``/``test`` are the row counts (the API contract); the
    # spec, class balance and warnings ride along.
    return {**counts, **split}


@router.get("/datasets/{int:dataset_id}/suggested-recipe", response=reads({200: dict}))
def suggested_recipe(request, dataset_id: int):
    """The cleaning recipe proposed from this version's profile."""
    dataset = get_dataset_for(request.user, dataset_id, need=Role.VIEWER)
    return dataset_suggested_recipe(dataset=dataset)


@router.post("/datasets/{int:dataset_id}/preview", response=writes({200: dict}))
def preview(request, dataset_id: int, payload: PreviewIn):
    """Apply a recipe to the first rows, synchronously: before/after per step."""
    dataset = get_dataset_for(request.user, dataset_id, need=Role.SCIENTIST)
    return dataset_preview(dataset=dataset, recipe=payload.recipe)


@router.post(
    "/datasets/{int:dataset_id}/prepare", response=writes({202: PrepareOut}, 503)
)
def prepare(request, dataset_id: int, payload: PrepareIn):
    """Clean (the suggested recipe when none is given), split and store a new
    version as a job."""
    dataset = get_dataset_for(request.user, dataset_id, need=Role.SCIENTIST)
    prepared, job = dataset_prepare(
        dataset=dataset, user=request.user, recipe=payload.recipe, split=payload.split
    )
    return Status(
        202,
        {
            "dataset": {"id": prepared.pk, "version": prepared.version},
            "job": {"id": job.id, "status": job.status},
        },
    )
