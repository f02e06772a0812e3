"""Step 3: suggest, preview and apply a cleaning recipe, and split the result.

A prepared version is a new Dataset whose parent is the input. Its row is created
at once (status "preparing", no file yet) so the page and the API can follow the
job; the job writes the Parquet file (cleaned rows plus the split label column),
then profiles it, in that order, and only then marks it ready.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from django.conf import settings
from django.core.exceptions import ValidationError

from projects.ml.cleaning import (
    apply_recipe,
    column_kinds_after,
    suggest_recipe,
    validate_recipe,
)
from projects.ml.errors import SpecError
from projects.ml.profiling import profile_table
from projects.ml.splitting import split_frame, validate_split
from projects.models import Dataset, DatasetStatus, Job
from projects.services.audit import audit_record
from projects.services.datasets import (
    dataset_load_frame,
    dataset_save_new_version,
    dataset_store_table,
)
from projects.services.jobs import JobError, job_fence, queue_require

# The split label of each row, stored as a column of a prepared version's Parquet
# file so rows and labels can never drift apart. Never shown as a data column.
SPLIT_COLUMN = "__split__"
PREVIEW_ROWS = 5_000
# The suggestion looks at this many rows for spelling variants (the profile
# already covers all rows for everything else).
SUGGEST_ROWS = 100_000
PREVIEW_SAMPLE_ROWS = 20


def spec_validation_error(exc: SpecError, prefix: str) -> ValidationError:
    """A recipe, split or feature spec error as a form/API error on ``prefix.field``."""
    field = exc.field
    if prefix and field != prefix and not field.startswith(f"{prefix}."):
        field = f"{prefix}.{field}"
    return ValidationError({field: exc.message})


def dataset_kinds(dataset: Dataset) -> dict[str, str]:
    """The stored column kinds of a profiled version; refuses one not ready yet."""
    if dataset.status != DatasetStatus.READY or not dataset.profile:
        raise ValidationError(
            {
                "dataset": f"Version {dataset.version} is not ready yet "
                f"({dataset.get_status_display().lower()}); wait for its profile."
            }
        )
    return stored_kinds(dataset.profile)


def stored_kinds(profile: dict) -> dict[str, str]:
    """Column kinds as stored: text that the profile reads as dates is still text
    (categorical) until a parse_dates step turns it into dates."""
    kinds = {}
    for column in profile["columns"]:
        kind = column["kind"]
        if kind == "datetime" and not column.get("dtype", "").startswith("datetime"):
            kind = "categorical"
        kinds[column["name"]] = kind
    return kinds


def dataset_suggested_recipe(*, dataset: Dataset) -> dict:
    """The recipe the page proposes for a profiled version."""
    dataset_kinds(dataset)
    project = dataset.project
    df = dataset_load_frame(dataset, head=SUGGEST_ROWS)
    return suggest_recipe(
        df.drop(columns=[SPLIT_COLUMN], errors="ignore"),
        dataset.profile,
        target=project.target_column or None,
        task_type=project.task_type,
    )


def _validated(recipe: Any, kinds: dict[str, str]):
    try:
        return validate_recipe(recipe, columns=kinds)
    except SpecError as exc:
        raise spec_validation_error(exc, "recipe") from None


def dataset_preview(*, dataset: Dataset, recipe: Any) -> dict:
    """Apply a recipe to the first rows of a version, synchronously.

    Returns the per-step report and a few rows, changed cells marked, for the page.
    """
    parsed = _validated(recipe, dataset_kinds(dataset))
    before = dataset_load_frame(dataset, head=PREVIEW_ROWS)
    before = before.drop(columns=[SPLIT_COLUMN], errors="ignore")
    try:
        after, _fitted, report = apply_recipe(before, parsed)
    except SpecError as exc:
        raise spec_validation_error(exc, "recipe") from None
    return {
        "rows_in": len(before),
        "rows_out": len(after),
        "sampled": dataset.n_rows > len(before),
        "steps": report,
        "sample": _changed_rows(before, after),
    }


def _changed_rows(before: pd.DataFrame, after: pd.DataFrame) -> dict:
    """Up to PREVIEW_SAMPLE_ROWS rows of the result, rows with changes first."""
    common = [c for c in after.columns if c in before.columns]
    old = before.loc[after.index, common].astype("str")
    new = after[common].astype("str")
    changed = (old != new).to_numpy()
    added = [c for c in after.columns if c not in before.columns]
    # Stable: rows with a change first, each group in its original order.
    rows = np.argsort(~changed.any(axis=1), kind="stable")[:PREVIEW_SAMPLE_ROWS]
    columns = common + added
    shown = after.iloc[rows][columns]
    return {
        "columns": columns,
        "added": added,
        "rows": [
            [None if pd.isna(v) else str(v) for v in record]
            for record in shown.itertuples(index=False, name=None)
        ],
        "changed": [[bool(x) for x in changed[i]] + [True] * len(added) for i in rows],
        "row_numbers": [int(after.index[i]) + 1 for i in rows],
    }


def dataset_prepare(
    *, dataset: Dataset, user, recipe: Any | None, split: Any
) -> tuple[Dataset, Job]:
    """Create the prepared version's row and start the job that fills it.

    Everything a user can get wrong is checked here, before anything is written:
    the recipe against the columns, the split against the columns the recipe
    leaves (and the target).
    """
    queue_require()
    project = dataset.project
    if recipe is None:
        recipe = dataset_suggested_recipe(dataset=dataset)
    kinds = dataset_kinds(dataset)
    parsed = _validated(recipe, kinds)
    # The split sees the columns as the recipe leaves them.
    after = column_kinds_after(parsed, kinds)
    target = project.target_column or None
    if target and target not in after:
        raise ValidationError(
            {"recipe": f"The recipe drops the target column {target!r}."}
        )
    try:
        spec = validate_split(
            split, frame_columns=after, target=target, task_type=project.task_type
        )
        _check_stratification(dataset, spec, target, project.task_type)
    except SpecError as exc:
        raise spec_validation_error(exc, "split") from None
    prepared = Dataset(
        project=project,
        version=0,
        parent=dataset,
        original_name=dataset.original_name,
        source_format="prepared",
        status=DatasetStatus.PREPARING,
        recipe=parsed.model_dump(mode="json"),
        split={"spec": spec.model_dump(mode="json")},
        created_by=user,
    )
    return dataset_save_new_version(
        dataset=prepared,
        user=user,
        job_kind="prepare",
        verb="dataset.prepared",
        data={"parent_version": dataset.version, "steps": len(parsed.steps)},
    )


def _check_stratification(dataset: Dataset, spec, target, task_type: str) -> None:
    """Split the input's labelled target the way the job will, to refuse a class
    too small to stratify now rather than in a failed job. (A recipe that filters
    or merges classes can still change the counts; the job checks again.)"""
    if spec.method != "stratified":
        return
    labels = dataset_load_frame(dataset, columns=[target])
    split_frame(labels.dropna(), spec, target=target, task_type=task_type)


def dataset_prepare_run(*, job: Job, progress) -> None:
    """Job: clean the parent, split, store, profile; the version is then ready."""
    dataset = Dataset.objects.select_related("project", "parent").get(pk=job.subject_id)
    project = dataset.project
    progress(2, f"Reading version {dataset.parent.version}")
    df = dataset_load_frame(dataset.parent).drop(
        columns=[SPLIT_COLUMN], errors="ignore"
    )
    parent_kinds = stored_kinds(dataset.parent.profile)
    recipe = validate_recipe(dataset.recipe, columns=parent_kinds)
    cleaned, fitted, report = apply_recipe(
        df,
        recipe,
        progress=lambda done, total, label: progress(
            5 + 50 * done / max(total, 1), f"Step {done} of {total}: {label}"
        ),
    )
    del df
    cleaned = cleaned.reset_index(drop=True)
    if not len(cleaned):
        raise JobError("The recipe removed every row; switch off a filtering step.")
    progress(58, "Splitting into train, validation and test")
    spec = validate_split(
        dataset.split["spec"],
        frame_columns=column_kinds_after(recipe, parent_kinds),
        target=project.target_column or None,
        task_type=project.task_type,
    )
    try:
        result = split_frame(
            cleaned,
            spec,
            target=project.target_column or None,
            task_type=project.task_type,
        )
    except SpecError as exc:
        raise JobError(exc.message) from None
    progress(65, "Profiling the prepared data")
    profile = profile_table(
        cleaned,
        sample_rows=settings.PROFILE_SAMPLE_ROWS,
        random_state=0,
        progress=lambda pct, msg: progress(65 + pct * 0.25, msg),
    )
    progress(92, "Storing the prepared version")
    table = pa.Table.from_pandas(cleaned, preserve_index=False)
    table = table.append_column(SPLIT_COLUMN, pa.array(result.labels))
    schema_table = table.drop_columns([SPLIT_COLUMN])
    stored = dataset_store_table(dataset, table, job=job)
    with job_fence(job):
        Dataset.objects.filter(pk=dataset.pk).update(
            **stored,
            n_rows=table.num_rows,
            n_columns=schema_table.num_columns,
            schema=[
                {"name": f.name, "dtype": str(f.type)} for f in schema_table.schema
            ],
            recipe=fitted.model_dump(mode="json"),
            report=report,
            split={"spec": dataset.split["spec"], **result.report},
            profile=profile,
            status=DatasetStatus.READY,
        )
    audit_record(
        actor=job.created_by,
        verb="dataset.prepare_finished",
        obj=dataset,
        project=project,
        data={"rows": table.num_rows},
    )


def dataset_prepare_ended(job: Job) -> None:
    Dataset.objects.filter(pk=job.subject_id, status=DatasetStatus.PREPARING).update(
        status=DatasetStatus.FAILED, error=job.error
    )


def dataset_prepare_retried(job: Job) -> None:
    Dataset.objects.filter(pk=job.subject_id, status=DatasetStatus.FAILED).update(
        status=DatasetStatus.PREPARING, error=""
    )
