"""Step 4: the feature spec of a prepared version, and the project's default.

The spec itself is checked and compiled in :mod:`projects.ml.features`; here it
meets a dataset: its profile gives the column kinds, its training split gives the
rows a preview is fitted on (never validation or test rows).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from projects.ml.errors import SpecError
from projects.ml.features import preview_features, suggest_features, validate_features
from projects.models import Dataset, Project
from projects.services.audit import audit_record
from projects.services.datasets import dataset_load_frame
from projects.services.preparation import (
    SPLIT_COLUMN,
    dataset_kinds,
    spec_validation_error,
)

# Rows of the training split a preview is fitted on (a seeded sample above this).
PREVIEW_FIT_ROWS = 20_000


def dataset_suggested_features(*, dataset: Dataset) -> dict:
    """The feature spec proposed from a version's profile."""
    kinds = dataset_kinds(dataset)
    project = dataset.project
    # Suggest from the kinds as stored (text dates are text until step 3 parses
    # them), so the suggestion always passes validation.
    profile = {
        **dataset.profile,
        "columns": [
            {**c, "kind": kinds[c["name"]]} for c in dataset.profile["columns"]
        ],
    }
    return suggest_features(
        profile,
        target=project.target_column or None,
        task_type=project.task_type,
    )


def features_validate(*, dataset: Dataset, spec: Any):
    project = dataset.project
    try:
        return validate_features(
            spec,
            columns=dataset_kinds(dataset),
            target=project.target_column or None,
            task_type=project.task_type,
        )
    except SpecError as exc:
        raise spec_validation_error(exc, "spec") from None


def dataset_features_preview(*, dataset: Dataset, spec: Any) -> dict:
    """Fit the spec on (a sample of) the version's training rows; describe the output.

    A version without a split (not prepared yet) is previewed on all its rows.
    """
    parsed = features_validate(dataset=dataset, spec=spec)
    project = dataset.project
    frame = dataset_load_frame(dataset)
    has_split = SPLIT_COLUMN in frame.columns
    if has_split:
        frame = frame[frame[SPLIT_COLUMN] == "train"].drop(columns=[SPLIT_COLUMN])
    target = project.target_column or None
    if target and target in frame.columns:
        frame = frame[frame[target].notna()]
    if len(frame) > PREVIEW_FIT_ROWS:
        frame = frame.sample(n=PREVIEW_FIT_ROWS, random_state=0)
    y = frame[target] if target and target in frame.columns else None
    try:
        out = preview_features(
            parsed,
            frame,
            y,
            task_type=project.task_type,
            max_features_out=settings.FEATURES_MAX_OUT,
        )
    except SpecError as exc:
        raise spec_validation_error(exc, "spec") from None
    return {**out, "fit_rows": len(frame), "fitted_on": "train" if has_split else "all"}


def project_feature_spec_set(
    *, project: Project, dataset: Dataset, spec: Any, user
) -> dict:
    """Check a spec against a version (its preview must fit) and make it the
    project's default."""
    if dataset.project_id != project.pk:
        raise ValidationError(
            {"dataset_id": "That version belongs to another project."}
        )
    parsed = features_validate(dataset=dataset, spec=spec)
    dataset_features_preview(dataset=dataset, spec=parsed)
    stored = parsed.model_dump(mode="json")
    project.feature_spec = stored
    project.full_clean()
    project.save(update_fields=["feature_spec"])
    audit_record(
        actor=user,
        verb="project.feature_spec_set",
        obj=project,
        project=project,
        data={"dataset_version": dataset.version, "columns": len(stored["columns"])},
    )
    return stored
