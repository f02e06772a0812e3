"""Dataset versions: upload (store the raw file), ingest job, profiling, analysis."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator

import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max

from projects.ml.io import (
    DataFileError,
    ReadLimits,
    TableInfo,
    read_parquet,
    read_table,
    release_memory,
    source_kind,
    table_to_frame,
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
    """Store an uploaded file as it is and start the job that ingests it.

    Nothing is parsed here: the request only copies the bytes to storage, adds a
    version in the ``ingesting`` state and enqueues an ``ingest`` job, which reads,
    checks and profiles the file in a worker (:func:`dataset_ingest_run`). Only the
    extension and emptiness are judged at once.

    Raises ValidationError({"file": ...}) for a file that cannot be a table and
    QueueUnavailable when the job could not start; in both cases nothing is stored.
    """
    queue_require()
    try:
        kind = source_kind(filename)
    except DataFileError as exc:
        raise ValidationError({"file": exc.message}) from exc
    size = os.path.getsize(path)
    if size == 0:
        raise ValidationError({"file": "The file is empty."})
    raw = _store_raw(project, path)
    try:
        dataset = Dataset(
            project=project,
            version=0,
            original_name=display_name(filename),
            source_format=kind,
            upload_bytes=size,
            status=DatasetStatus.INGESTING,
            created_by=user,
        )
        return dataset_save_new_version(
            dataset=dataset,
            user=user,
            job_kind="ingest",
            params={"raw": raw, "filename": display_name(filename)},
        )
    except BaseException:
        default_storage.delete(raw)
        raise


def _store_raw(project: Project, path: str | os.PathLike) -> str:
    key = f"datasets/{project.pk}/{uuid.uuid4().hex}.upload"
    return file_store(key, lambda tmp: shutil.copyfile(path, tmp))[0]


@contextlib.contextmanager
def _local_file(name: str, suffix: str = "") -> Iterator[str]:
    """A path on this machine holding a stored file (a copy for remote storage)."""
    try:
        yield default_storage.path(name)
        return
    except NotImplementedError:
        pass
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        with default_storage.open(name, "rb") as src:
            for chunk in iter(lambda: src.read(1024 * 1024), b""):
                tmp.write(chunk)
        tmp.flush()
        yield tmp.name


def _no_progress(percent: float, message: str = "") -> None:
    return None


def dataset_ingest_file(
    *,
    dataset: Dataset,
    path: str | os.PathLike,
    filename: str,
    progress=_no_progress,
    job: Job | None = None,
) -> tuple[dict, TableInfo, dict, pd.DataFrame]:
    """The ingest job's work on a file: read and check it, store it, profile it.

    The budgets (``DATASET_MAX_BYTES``, rows, columns) are checked before the file
    is decoded. The profile is computed from the table just read, not from the
    Parquet file read back. A saved ``dataset`` records its file as soon as it is
    stored, so that a job that dies later leaves no file nobody knows of.

    Returns the Dataset fields of the stored file (``file``, ``sha256``,
    ``size_bytes``), what the reader found, the profile and the frame.
    Raises JobError with the reader's message for a file it refuses.
    """
    limits = ReadLimits(
        max_rows=settings.DATASET_MAX_ROWS,
        max_columns=settings.DATASET_MAX_COLUMNS,
        max_bytes=settings.DATASET_MAX_BYTES,
    )
    progress(2, "Reading and checking the file")
    try:
        table, info = read_table(path, filename=filename, limits=limits)
    except DataFileError as exc:
        raise JobError(exc.message) from exc
    # The CSV reader's buffers (about the file's size again) are free now; give
    # them back before the frame and the profile need memory of their own.
    release_memory()
    progress(30, "Storing it as Parquet")
    stored = dataset_store_table(dataset, table, job=job)
    if dataset.pk is not None:
        Dataset.objects.filter(pk=dataset.pk).update(file=stored["file"])
    frame = table_to_frame(table)
    del table
    profile = profile_table(
        frame,
        sample_rows=settings.PROFILE_SAMPLE_ROWS,
        random_state=0,
        progress=lambda pct, msg: progress(40 + pct * 0.5, msg),
    )
    return stored, info, profile, frame


def dataset_ingest_run(*, job: Job, progress) -> None:
    """Job: ingest an upload (:func:`dataset_ingest_file`); the version is usable
    only when this succeeds, and :func:`dataset_ingest_ended` removes it and every
    file when it does not."""
    dataset = (
        Dataset.objects.select_related("project")
        .filter(pk=job.subject_id, status=DatasetStatus.INGESTING)
        .first()
    )
    raw = job.params.get("raw", "")
    if dataset is None or not raw or not default_storage.exists(raw):
        raise JobError(
            "The uploaded file is no longer stored (a failed upload is removed); "
            "upload it again."
        )
    with _local_file(raw) as local:
        stored, info, profile, frame = dataset_ingest_file(
            dataset=dataset,
            path=local,
            filename=job.params.get("filename", ""),
            progress=progress,
            job=job,
        )
    progress(92, "Analysing the target and sensitive attributes")
    analysis = _analysis(dataset.project, frame)
    del frame
    release_memory()
    progress(98, "Saving the version")
    with job_fence(job):
        Dataset.objects.filter(pk=dataset.pk, status=DatasetStatus.INGESTING).update(
            status=DatasetStatus.READY,
            source_format=info.source_format,
            source_encoding=info.encoding or "",
            source_delimiter=info.delimiter or "",
            n_rows=info.n_rows,
            n_columns=info.n_columns,
            schema=info.schema,
            profile=profile,
            analysis=analysis,
            **stored,
        )
        audit_record(
            actor=job.created_by,
            verb="dataset.uploaded",
            obj=dataset,
            project=dataset.project,
            data={
                "version": dataset.version,
                "sha256": stored["sha256"],
                "name": dataset.original_name,
            },
        )
    default_storage.delete(raw)


def dataset_ingest_ended(job: Job) -> None:
    """A failed or cancelled ingest leaves nothing: no version, no file."""
    names = [job.params.get("raw", "")]
    dataset = Dataset.objects.filter(
        pk=job.subject_id, status=DatasetStatus.INGESTING
    ).first()
    if dataset is not None:
        names.append(dataset.file.name)
        dataset.delete()

    def remove() -> None:
        for name in filter(None, names):
            default_storage.delete(name)

    transaction.on_commit(remove)


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
    *,
    dataset: Dataset,
    user,
    job_kind: str,
    verb: str = "",
    data: dict | None = None,
    params: dict | None = None,
) -> tuple[Dataset, Job]:
    """Save a new version with the next number and start its job, atomically.

    With ``verb``, the new version is audited at once (an upload is audited when
    its ingest job has checked it).
    """
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
                    params=params,
                )
                if verb:
                    audit_record(
                        actor=user,
                        verb=verb,
                        obj=dataset,
                        project=dataset.project,
                        data={
                            "version": dataset.version,
                            "sha256": dataset.sha256,
                            **(data or {}),
                        },
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
