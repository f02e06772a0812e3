"""Dataset versions: upload (validate + store as Parquet), profiling, analysis."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import unicodedata

import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max

from projects.ml.io import (
    DataFileError,
    ReadLimits,
    read_parquet,
    read_table,
    release_memory,
    write_parquet,
)
from projects.ml.profiling import analyze_groups, analyze_target, profile_table
from projects.models import Dataset, DatasetStatus, Job, Project
from projects.services.audit import audit_record
from projects.services.files import file_store
from projects.services.jobs import JobError, job_create, job_fence, queue_require

logger = logging.getLogger(__name__)


def display_name(filename: str) -> str:
    """The user's file name made safe to store and show (never used as a path)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(
        ch for ch in name if unicodedata.category(ch)[0] != "C"
    )  # control and bidi-override characters
    name = name.strip() or "upload"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:180] + "…." + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def dataset_upload(
    *, project: Project, user, path: str | os.PathLike, filename: str
) -> tuple[Dataset, Job]:
    """Validate an uploaded file, store it as a new Parquet version, start profiling.

    Raises ValidationError({"file": ...}) for a bad file and QueueUnavailable when
    profiling could not start; in both cases nothing is stored.
    """
    queue_require()
    limits = ReadLimits(
        max_rows=settings.DATASET_MAX_ROWS, max_columns=settings.DATASET_MAX_COLUMNS
    )
    try:
        table, info = read_table(path, filename=filename, limits=limits)
    except DataFileError as exc:
        raise ValidationError({"file": exc.message}) from exc

    stored: dict = {}
    try:
        dataset = Dataset(
            project=project,
            version=0,
            original_name=display_name(filename),
            source_format=info.source_format,
            source_encoding=info.encoding or "",
            source_delimiter=info.delimiter or "",
            upload_bytes=os.path.getsize(path),
            n_rows=info.n_rows,
            n_columns=info.n_columns,
            schema=info.schema,
            created_by=user,
        )
        stored = dataset_store_table(dataset, table)
        del table
        release_memory()
        for name, value in stored.items():
            setattr(dataset, name, value)
        dataset, job = dataset_save_new_version(
            dataset=dataset,
            user=user,
            job_kind="profile",
            verb="dataset.uploaded",
            data={"name": dataset.original_name},
        )
    except BaseException:
        if stored:
            default_storage.delete(stored["file"])
        raise
    return dataset, job


def dataset_store_table(dataset: Dataset, table, *, job: Job | None = None) -> dict:
    """Write a table as the dataset's Parquet file in storage (``file_store``:
    whole and fsynced, outside any transaction; noted on ``job`` if given).

    Returns the Dataset fields to set: ``file`` (the storage name), ``sha256`` and
    ``size_bytes``.
    """
    key = dataset.file.field.upload_to(dataset, "data.parquet")
    name, (sha256, size) = file_store(
        key, lambda path: write_parquet(table, path), job=job
    )
    return {"file": name, "sha256": sha256, "size_bytes": size}


def dataset_save_new_version(
    *, dataset: Dataset, user, job_kind: str, verb: str, data: dict
) -> tuple[Dataset, Job]:
    """Save a new version with the next number and start its job, atomically."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                latest = Dataset.objects.filter(project=dataset.project).aggregate(
                    v=Max("version")
                )["v"]
                dataset.version = (latest or 0) + 1
                dataset.full_clean(exclude=["file"])
                dataset.save()
                job = job_create(
                    kind=job_kind,
                    project=dataset.project,
                    subject_type="dataset",
                    subject_id=dataset.pk,
                    user=user,
                )
                audit_record(
                    actor=user,
                    verb=verb,
                    obj=dataset,
                    project=dataset.project,
                    data={"version": dataset.version, "sha256": dataset.sha256, **data},
                )
            return dataset, job
        except IntegrityError:
            # Two uploads raced for the same version number; take the next one.
            dataset.pk = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def dataset_load_frame(
    dataset: Dataset, columns: list[str] | None = None, head: int | None = None
) -> pd.DataFrame:
    """The dataset's rows (or its first ``head`` rows) as a DataFrame."""
    if not default_storage.exists(dataset.file.name):
        raise JobError(
            f"The stored file of version {dataset.version} is missing from storage "
            f"({dataset.file.name}). Restore it from a backup, then retry."
        )
    try:
        local = default_storage.path(dataset.file.name)
    except NotImplementedError:
        local = None
    if local is not None:
        return read_parquet(local, columns=columns, head=head)
    with tempfile.NamedTemporaryFile(suffix=".parquet") as tmp:
        with default_storage.open(dataset.file.name, "rb") as src:
            for chunk in iter(lambda: src.read(1024 * 1024), b""):
                tmp.write(chunk)
        tmp.flush()
        return read_parquet(tmp.name, columns=columns, head=head)


def _analysis(project: Project, df: pd.DataFrame) -> dict | None:
    target = project.target_column if project.target_column in df.columns else ""
    sensitive = [c for c in project.sensitive_columns if c in df.columns]
    if not target and not sensitive:
        return None
    return {
        "target_column": target,
        "sensitive_columns": sensitive,
        "task_type": project.task_type,
        "target": (
            analyze_target(
                df,
                target=target,
                task_type=project.task_type,
                sample_rows=settings.PROFILE_SAMPLE_ROWS,
                random_state=0,
            )
            if target
            else None
        ),
        "groups": analyze_groups(df, columns=sensitive) if sensitive else [],
    }


def dataset_profile_run(*, job: Job, progress) -> None:
    """Job: profile a dataset version (and analyse the target if one is chosen)."""
    dataset = Dataset.objects.select_related("project").get(pk=job.subject_id)
    progress(2, "Reading the stored data")
    df = dataset_load_frame(dataset)
    profile = profile_table(
        df,
        sample_rows=settings.PROFILE_SAMPLE_ROWS,
        random_state=0,
        progress=lambda pct, msg: progress(5 + pct * 0.85, msg),
    )
    progress(92, "Analysing the target and sensitive attributes")
    analysis = _analysis(dataset.project, df)
    progress(98, "Saving the profile")
    with job_fence(job):
        Dataset.objects.filter(pk=dataset.pk).update(
            profile=profile, analysis=analysis, status=DatasetStatus.READY
        )


def dataset_profile_ended(job: Job) -> None:
    Dataset.objects.filter(pk=job.subject_id, profile__isnull=True).update(
        status=DatasetStatus.FAILED
    )


def dataset_profile_retried(job: Job) -> None:
    Dataset.objects.filter(pk=job.subject_id, profile__isnull=True).update(
        status=DatasetStatus.PROFILING
    )


def dataset_analyze_run(*, job: Job, progress) -> None:
    """Job: recompute the target and sensitive-attribute analysis of a version."""
    dataset = Dataset.objects.select_related("project").get(pk=job.subject_id)
    progress(5, "Reading the stored data")
    project = dataset.project
    wanted = [project.target_column, *project.sensitive_columns]
    columns = None if project.target_column else [c for c in wanted if c]
    df = dataset_load_frame(dataset, columns=columns)
    progress(40, "Analysing the target and sensitive attributes")
    analysis = _analysis(project, df)
    with job_fence(job):
        Dataset.objects.filter(pk=dataset.pk).update(analysis=analysis)


def dataset_latest(project: Project) -> Dataset | None:
    return project.datasets.order_by("-version").first()
