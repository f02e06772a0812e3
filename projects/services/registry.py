"""Step 9, part 1: register a succeeded experiment as a model version.

A model version is an immutable, numbered (per project) snapshot of everything a
deployment, an approver and monitoring need, taken once at registration:

- the serving pipeline (the fitted recipes of the version's chain of prepared
  versions replayed in serving mode, then the experiment's fitted pipeline),
  signed and stored as its own file: a raw row of the uploaded file in, the
  experiment's prediction out;
- the input schema of those raw rows, and a reference profile of the training
  rows (distributions and the predictions on them) for monitoring;
- the metrics, the success contract with its verdict, the lineage, and a model
  card whose text sections are generated here and are the only thing anyone
  may change afterwards (:func:`model_version_card_update`).

The training rows as raw rows: the uploaded rows are passed through the stored
(fitted) recipes again, keeping their index; the recipes are deterministic once
fitted, so the rows that come out are, in order, the rows of the prepared
version, whose split labels then pick the training rows.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from projects.ml.artifacts import ArtifactError, dump_model, read_header_from_bytes
from projects.ml.catalog import algorithm_get
from projects.ml.cleaning import OPS, Recipe, apply_recipe
from projects.ml.errors import SpecError
from projects.ml.reference import (
    input_schema,
    prediction_summary,
    read_columns,
    reference_profile,
)
from projects.ml.serving import ServingPipeline
from projects.models import (
    Dataset,
    Experiment,
    ModelVersion,
    Project,
    TestLook,
)
from projects.services.audit import audit_record
from projects.services.datasets import dataset_load_frame
from projects.services.experiments import experiment_load_model
from projects.services.files import file_delete_unreferenced, file_store_bytes
from projects.services.jobs import JobError
from projects.services.preparation import SPLIT_COLUMN

logger = logging.getLogger(__name__)

# The model card's sections a person may edit (everything else is a fact of the
# registration and never changes), with their labels and length caps.
CARD_TEXT_FIELDS: dict[str, str] = {
    "intended_use": "Intended use",
    "data": "Data",
    "metrics": "Metrics",
    "fairness": "Fairness",
    "limitations": "Limitations",
    "notes": "Notes",
}
CARD_MAX_LENGTH = 5_000
# Rows of the training split the reference profile and its predictions use.
REFERENCE_ROWS = 20_000
NAME_MAX = 120
DESCRIPTION_MAX = 5_000


def _refuse(message: str) -> ValidationError:
    return ValidationError({"experiment": message})


def dataset_chain(dataset: Dataset) -> list[Dataset]:
    """The version and its parents back to the upload, oldest (the upload) first."""
    chain = [dataset]
    while chain[-1].parent_id is not None:
        chain.append(Dataset.objects.get(pk=chain[-1].parent_id))
    return chain[::-1]


def _training_rows(
    raw: pd.DataFrame, chain: list[Dataset]
) -> tuple[pd.DataFrame, bool]:
    """The uploaded rows that became the training split, and whether they could be
    matched (else all uploaded rows, and False)."""
    frame = raw
    try:
        for prepared in chain[1:]:
            frame, _fitted, _report = apply_recipe(
                frame, Recipe.model_validate(prepared.recipe or {}), refit=False
            )
    except (SpecError, ValueError, KeyError, TypeError) as exc:
        logger.warning("registration: recipe replay failed (%s)", exc)
        return raw, False
    labels = dataset_load_frame(chain[-1], columns=[SPLIT_COLUMN])[SPLIT_COLUMN]
    if len(labels) != len(frame):
        logger.warning(
            "registration: %s replayed rows, %s prepared rows", len(frame), len(labels)
        )
        return raw, False
    return raw.loc[frame.index[(labels == "train").to_numpy()]], True


def _schema_kinds(uploaded: Dataset, recipes: list[dict]) -> dict[str, str]:
    """The profile's kinds of the uploaded columns; a column a recipe parses is
    what a client sends: text to be read as a number, or a date."""
    kinds = {c["name"]: c["kind"] for c in (uploaded.profile or {}).get("columns", [])}
    for recipe in recipes:
        for step in recipe.get("steps") or []:
            if not step.get("enabled", True) or step.get("column") not in kinds:
                continue
            if step["op"] == "to_number" and kinds[step["column"]] != "numeric":
                kinds[step["column"]] = "text"
            elif step["op"] == "parse_dates":
                kinds[step["column"]] = "datetime"
    return kinds


def _passes(value: float | None, threshold: float | None, higher: bool) -> bool | None:
    if value is None or threshold is None:
        return None
    return value >= threshold if higher else value <= threshold


def _fairness_parts(evaluation: dict | None) -> list[dict]:
    reports = ((evaluation or {}).get("analysis") or {}).get("fairness") or {}
    parts = []
    for attribute, report in reports.items():
        relative = report.get("metric_relative_difference")
        differences = [
            report.get("demographic_parity_difference"),
            report.get("equal_opportunity_difference"),
            relative if relative is not None else report.get("metric_difference"),
        ]
        known = [d for d in differences if d is not None]
        value = max(known) if known else None
        parts.append(
            {
                "name": f"fairness:{attribute}",
                "label": f"Largest difference between the groups of {attribute}",
                "value": value,
                "threshold": report.get("bound"),
                "passes": None if value is None else not report.get("flagged"),
            }
        )
    return parts


def model_version_contract(project: Project, experiment: Experiment) -> dict:
    """The success contract's parts and its verdict, from the stored results.

    ``passes`` is False when any part fails, None when the project has no
    threshold (or a part cannot be decided), True otherwise."""
    metric = project.primary_metric
    higher = project.higher_is_better
    threshold = project.success_threshold
    metrics = experiment.metrics or {}
    parts = []
    for split in ("validation", "test"):
        if split == "test" and not metrics.get("test"):
            continue
        value = (metrics.get(split) or {}).get(metric)
        parts.append(
            {
                "name": "primary_metric" if split == "validation" else "test_metric",
                "label": f"{metric} on {split} ({'≥' if higher else '≤'} threshold)",
                "value": value,
                "threshold": threshold,
                "passes": _passes(value, threshold, higher),
            }
        )
    parts.extend(_fairness_parts(experiment.evaluation))
    verdicts = [p["passes"] for p in parts]
    if any(v is False for v in verdicts):
        passes = False
    elif threshold is None or any(v is None for v in verdicts):
        passes = None
    else:
        passes = True
    return {"passes": passes, "parts": parts}


def _metrics_snapshot(project: Project, experiment: Experiment) -> dict:
    metrics = experiment.metrics or {}
    baseline = experiment.baseline
    base = None
    if baseline is not None and baseline.status == Experiment.Status.SUCCEEDED:
        base = {
            "experiment_id": baseline.pk,
            "algorithm": baseline.algorithm,
            "validation": (baseline.metrics or {}).get("validation"),
        }
    return {
        "primary_metric": project.primary_metric,
        "higher_is_better": project.higher_is_better,
        "threshold": project.success_threshold,
        "cv": {
            name: {"mean": v.get("mean"), "std": v.get("std")}
            for name, v in (metrics.get("cv") or {}).items()
            if isinstance(v, dict)
        },
        "train": metrics.get("train"),
        "validation": metrics.get("validation"),
        **({"test": metrics["test"]} if metrics.get("test") else {}),
        "baseline": base,
    }


def _lineage(experiment: Experiment, chain: list[Dataset], libraries: dict) -> dict:
    dataset, uploaded = chain[-1], chain[0]
    return {
        "dataset_id": dataset.pk,
        "dataset_version": dataset.version,
        "dataset_sha256": dataset.sha256,
        "uploaded_dataset_id": uploaded.pk,
        "uploaded_version": uploaded.version,
        "uploaded_sha256": uploaded.sha256,
        "uploaded_name": uploaded.original_name,
        "versions": [
            {"id": d.pk, "version": d.version, "sha256": d.sha256} for d in chain
        ],
        "recipe": [d.recipe for d in chain[1:] if d.recipe],
        "split": dataset.split,
        "feature_spec": experiment.feature_spec,
        "features_overridden": experiment.features_overridden,
        "experiment_id": experiment.pk,
        "experiment_artifact_sha256": experiment.artifact_sha256,
        "algorithm": experiment.algorithm,
        "params": experiment.params,
        "random_state": experiment.random_state,
        "cv_folds": experiment.cv_folds,
        "libraries": libraries,
        "trained_by": experiment.created_by.username if experiment.created_by else None,
        "trained_at": experiment.finished_at.isoformat()
        if experiment.finished_at
        else None,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _card(
    project: Project,
    experiment: Experiment,
    chain: list[Dataset],
    schema: dict,
    metrics: dict,
    contract: dict,
    looks: list[TestLook],
) -> dict:
    """The generated model card: text sections (editable) and facts (not)."""
    dataset, uploaded = chain[-1], chain[0]
    info = experiment.info or {}
    counts = (dataset.split or {}).get("counts") or {}
    try:
        label = algorithm_get(project.task_type, experiment.algorithm).label
    except SpecError:
        label = experiment.algorithm
    target = project.target_column or None
    task = project.get_task_type_display().lower()
    intended = (project.business_goal or "").strip() or (
        f"Not stated: the project has no business goal (step 1). The model is a "
        f"{task} model" + (f" predicting {target!r}." if target else ".")
    )
    steps = [
        OPS.get(s.get("op"), s.get("op"))
        for d in chain[1:]
        for s in (d.recipe or {}).get("steps", [])
        if s.get("enabled", True)
    ]
    data = (
        f"Trained on version {dataset.version}, prepared from version "
        f"{uploaded.version} ({uploaded.original_name}, {uploaded.n_rows:,} rows, "
        f"sha256 {uploaded.sha256[:12]}) by "
        + (
            f"{len(steps)} cleaning step(s): {', '.join(steps)}."
            if steps
            else "no cleaning."
        )
        + f" Split: {counts.get('train', '?')} training, "
        f"{counts.get('validation', '?')} validation and {counts.get('test', '?')} "
        f"test rows. Requests send {len(schema['columns'])} column(s): "
        + ", ".join(c["name"] for c in schema["columns"][:20])
        + (" …" if len(schema["columns"]) > 20 else "")
        + "."
    )
    metric = project.primary_metric
    validation = (metrics.get("validation") or {}).get(metric)
    baseline = ((metrics.get("baseline") or {}).get("validation") or {}).get(metric)
    primary = next(p for p in contract["parts"] if p["name"] == "primary_metric")
    if project.success_threshold is None:
        against = "the project has no success threshold, so there is no verdict"
    elif primary["passes"] is None:
        against = f"the threshold is {project.threshold_text}"
    else:
        verdict = "it passes" if primary["passes"] else "it does not pass"
        against = f"the threshold is {project.threshold_text}: {verdict}"
    text_metrics = (
        f"{label}: {metric} {_fmt(validation)} on the validation rows; {against}."
        + (f" The baseline scores {_fmt(baseline)}." if baseline is not None else "")
    )
    cv = (metrics.get("cv") or {}).get(metric)
    if cv and cv.get("mean") is not None:
        text_metrics += (
            f" Cross-validation on the training rows: {_fmt(cv['mean'])} "
            f"± {_fmt(cv.get('std'))}."
        )
    test = (metrics.get("test") or {}).get(metric)
    if test is not None:
        text_metrics += f" On the held-out test rows: {_fmt(test)}."
    fairness_parts = [p for p in contract["parts"] if p["name"].startswith("fairness:")]
    if not project.sensitive_columns:
        fairness = (
            "No sensitive attribute was chosen on step 1: fairness was not checked."
        )
    elif not fairness_parts:
        fairness = (
            "The fairness analysis of "
            + ", ".join(project.sensitive_columns)
            + " had not finished when this version was registered."
        )
    else:
        lines = []
        for part in fairness_parts:
            attribute = part["name"].split(":", 1)[1]
            verdict = (
                "cannot be compared (too few rows per group)"
                if part["passes"] is None
                else ("within" if part["passes"] else "over")
                + f" the bound {_fmt(part['threshold'])}"
            )
            lines.append(
                f"{attribute}: largest difference between groups "
                f"{_fmt(part['value'])}, {verdict}."
            )
        fairness = " ".join(lines)
    limitations = []
    if test is None:
        limitations.append(
            "The test split was not used: the validation score also chose this "
            "model, so it is an optimistic estimate."
        )
    if baseline is not None and validation is not None:
        beats = (
            validation > baseline if project.higher_is_better else validation < baseline
        )
        if not beats:
            limitations.append("It does no better than the baseline.")
    limitations.append(
        "Values outside the ranges seen in training are predicted but flagged; "
        "categories never seen in training are refused unless the deployment "
        "allows them."
    )
    limitations.extend(str(w) for w in (info.get("warnings") or [])[:5])
    return {
        "intended_use": intended[:CARD_MAX_LENGTH],
        "data": data[:CARD_MAX_LENGTH],
        "metrics": text_metrics[:CARD_MAX_LENGTH],
        "fairness": fairness[:CARD_MAX_LENGTH],
        "limitations": " ".join(limitations)[:CARD_MAX_LENGTH],
        "notes": "",
        # Facts, never edited.
        "model": label,
        "test_looks": [
            {
                "experiment_id": look.experiment_id,
                "at": look.at.isoformat(),
                "by": look.by.username if look.by else None,
                "confirmed": look.confirmed,
            }
            for look in looks
        ],
        "generated_at": timezone.now().isoformat(),
        "edited_by": None,
        "edited_at": None,
    }


def _check_texts(name: Any, description: Any) -> tuple[str, str]:
    errors = {}
    if not isinstance(name, str) or len(name.strip()) > NAME_MAX:
        errors["name"] = f"Give a name of at most {NAME_MAX} characters."
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        errors["description"] = (
            f"Give a description of at most {DESCRIPTION_MAX:,} characters."
        )
    for field, value in (("name", name), ("description", description)):
        if isinstance(value, str) and "\x00" in value:
            errors[field] = "The text must not contain the NUL character."
    if errors:
        raise ValidationError(errors)
    return name.strip(), description.strip()


def model_version_register(
    *, experiment: Experiment, user, name: Any = "", description: Any = ""
) -> ModelVersion:
    """Register a succeeded experiment as the project's next model version."""
    name, description = _check_texts(name, description)
    experiment = Experiment.objects.select_related(
        "project", "dataset", "baseline", "created_by"
    ).get(pk=experiment.pk)
    project = experiment.project
    if experiment.status != Experiment.Status.SUCCEEDED:
        raise _refuse(
            f"Experiment #{experiment.pk} is {experiment.get_status_display().lower()}:"
            " only a succeeded (trained) experiment can be registered."
        )
    if not experiment.artifact:
        raise _refuse(f"Experiment #{experiment.pk} has no saved model to register.")
    try:
        pipeline = experiment_load_model(experiment)
        with default_storage.open(experiment.artifact.name, "rb") as fh:
            header = read_header_from_bytes(fh.read(), key=_key())
    except (JobError, ArtifactError, FileNotFoundError) as exc:
        raise _refuse(str(exc)) from None
    if project.task_type == "clustering" and not hasattr(pipeline[-1], "predict"):
        raise _refuse(
            "This clustering algorithm cannot assign new rows to clusters, so it "
            "cannot serve predictions."
        )
    chain = dataset_chain(experiment.dataset)
    uploaded = chain[0]
    recipes = [d.recipe for d in chain[1:] if d.recipe]
    info = experiment.info or {}
    classes = info.get("classes")
    serving = ServingPipeline(
        recipes=recipes,
        pipeline=pipeline,
        input_columns=[c["name"] for c in info.get("input_columns") or []],
        task_type=project.task_type,
        classes=classes,
    )
    target = project.target_column or None
    raw = dataset_load_frame(uploaded).drop(columns=[SPLIT_COLUMN], errors="ignore")
    train, matched = _training_rows(raw, chain)
    columns = read_columns(
        list(raw.columns),
        target=target,
        recipes=recipes,
        feature_spec=experiment.feature_spec,
    )
    schema = {
        "columns": input_schema(
            train, kinds=_schema_kinds(uploaded, recipes), columns=columns
        ),
        "target": target,
        "task_type": project.task_type,
        "classes": [str(c) for c in classes] if classes is not None else None,
    }
    sample = train[columns]
    if len(sample) > REFERENCE_ROWS:
        rows = np.sort(
            np.random.default_rng(0).choice(len(sample), REFERENCE_ROWS, replace=False)
        )
        sample = sample.iloc[rows]
    reference = reference_profile(sample, schema["columns"])
    reference["rows"] = "training" if matched else "uploaded"
    # n_rows is what the summaries count (a sample past REFERENCE_ROWS).
    reference["n_training_rows"] = len(train)
    if len(sample):
        reference["predictions"] = prediction_summary(
            serving.predict(sample),
            task_type=project.task_type,
            proba=serving.predict_proba(sample) if serving.has_proba else None,
            classes=classes,
        )
    metrics = _metrics_snapshot(project, experiment)
    contract = model_version_contract(project, experiment)
    looks = list(
        TestLook.objects.filter(dataset=experiment.dataset).select_related("by")
    )
    card = _card(project, experiment, chain, schema, metrics, contract, looks)
    lineage = _lineage(experiment, chain, header.get("libraries") or {})

    data = dump_model(
        serving,
        key=_key(),
        metadata={
            "kind": "serving",
            "project_id": project.pk,
            "experiment_id": experiment.pk,
            "task_type": project.task_type,
            "target": target,
            "input_columns": columns,
            "classes": schema["classes"],
        },
    )
    stored = file_store_bytes(
        f"models/{project.pk}/versions/{uuid.uuid4().hex}.lcmodel", data
    )
    by = user if user is not None and user.is_authenticated else None
    try:
        for attempt in range(3):
            try:
                with transaction.atomic():
                    # Numbers are handed out one at a time per project.
                    Project.objects.select_for_update().get(pk=project.pk)
                    last = ModelVersion.objects.filter(project=project).aggregate(
                        n=Max("version")
                    )["n"]
                    version = ModelVersion(
                        project=project,
                        experiment=experiment,
                        version=(last or 0) + 1,
                        name=name,
                        description=description,
                        artifact=stored,
                        artifact_sha256=hashlib.sha256(data).hexdigest(),
                        schema=schema,
                        metrics=metrics,
                        contract=contract,
                        lineage=lineage,
                        reference=reference,
                        card=card,
                        created_by=by,
                    )
                    version.full_clean(validate_constraints=False)
                    version.save()
                    audit_record(
                        actor=user,
                        verb="model_version.registered",
                        obj=version,
                        project=project,
                        data={
                            "version": version.version,
                            "experiment_id": experiment.pk,
                            "passes": contract["passes"],
                            "artifact_sha256": version.artifact_sha256,
                        },
                    )
                break
            except IntegrityError:
                # Another registration took the number first (the lock held it
                # off everywhere but on databases without row locks): next one.
                if attempt == 2:
                    raise
    except BaseException:
        file_delete_unreferenced(stored)
        raise
    return version


def _key() -> bytes:
    return settings.MODEL_SIGNING_KEY.encode()


def model_version_card_update(
    *, version: ModelVersion, user, fields: Any
) -> ModelVersion:
    """Edit the card's text sections; nothing else of a version ever changes."""
    if not isinstance(fields, dict):
        raise ValidationError({"card": "Send an object of the card's text sections."})
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    editable = ", ".join(CARD_TEXT_FIELDS)
    for field, value in fields.items():
        if field not in CARD_TEXT_FIELDS:
            errors[str(field)] = (
                f"{field!r} is not an editable section of the card (editable: "
                f"{editable}); the rest of a model version never changes."
            )
        elif not isinstance(value, str):
            errors[field] = "Give text."
        elif "\x00" in value:
            errors[field] = "The text must not contain the NUL character."
        elif len(value.strip()) > CARD_MAX_LENGTH:
            errors[field] = f"Keep it under {CARD_MAX_LENGTH:,} characters."
        elif field == "intended_use" and not value.strip():
            errors[field] = "Say what the model is for (and what it is not for)."
        else:
            clean[field] = value.strip()
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().get(pk=version.pk)
        changed = sorted(k for k, v in clean.items() if current.card.get(k) != v)
        if changed:
            current.card = {
                **current.card,
                **clean,
                "edited_by": user.username if user.is_authenticated else None,
                "edited_at": timezone.now().isoformat(),
            }
            current.save(update_fields=["card"])
            audit_record(
                actor=user,
                verb="model_version.card_edited",
                obj=current,
                project=current.project,
                data={"version": current.version, "fields": changed},
            )
    version.card = current.card
    return version


__all__ = [
    "CARD_MAX_LENGTH",
    "CARD_TEXT_FIELDS",
    "dataset_chain",
    "model_version_card_update",
    "model_version_contract",
    "model_version_register",
]
