"""Projects: the problem definition (step 1), membership, and the column choices."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from projects.ml.profiling import analyze_target
from projects.models import (
    Dataset,
    DatasetStatus,
    Job,
    JobStatus,
    Membership,
    Project,
    Role,
)
from projects.services.audit import audit_record
from projects.services.datasets import dataset_load_frame
from projects.services.jobs import job_create, queue_require

STEP1_FIELDS = (
    "name",
    "description",
    "task_type",
    "business_goal",
    "primary_metric",
    "success_threshold",
    "latency_budget_ms",
)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def project_create(*, user, **fields) -> Project:
    """Create a project from the step 1 fields; the creator becomes its owner."""
    unknown = set(fields) - set(STEP1_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    project = Project(created_by=user, **fields)
    with transaction.atomic():
        project.slug = _unique_slug(project.name or "")
        project.full_clean()
        project.save()
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        audit_record(actor=user, verb="project.created", obj=project, project=project)
    return project


def _check_columns(project: Project, target, sensitive) -> None:
    latest = (
        project.datasets.filter(status=DatasetStatus.READY).order_by("-version").first()
    )
    errors: dict[str, str] = {}
    columns = latest.column_names if latest else []
    if target and not latest:
        errors["target_column"] = (
            "Upload a data set first; the target is one of its columns."
        )
    elif target and target not in columns:
        errors["target_column"] = f"{target!r} is not a column of the latest data set."
    if sensitive:
        if not latest:
            errors["sensitive_columns"] = (
                "Upload a data set first; sensitive attributes are its columns."
            )
        else:
            missing = [c for c in sensitive if c not in columns]
            if missing:
                errors["sensitive_columns"] = (
                    "Not columns of the latest data set: "
                    + ", ".join(map(repr, missing))
                )
            elif target and target in sensitive:
                errors["sensitive_columns"] = (
                    "The target cannot also be a sensitive attribute."
                )
    if target and "target_column" not in errors and project.needs_target:
        # Only the target column is read: cheap enough to answer in the request.
        fit = analyze_target(
            dataset_load_frame(latest, columns=[target]),
            target=target,
            task_type=project.task_type,
        )
        if fit["problems"]:
            errors["target_column"] = " ".join(p["message"] for p in fit["problems"])
    if errors:
        raise ValidationError(errors)


def project_update(*, project: Project, user, **fields) -> Project:
    """Change step 1 fields, the target column or the sensitive attributes.

    A changed target or sensitive attribute starts an analysis job on the latest
    profiled data set version.
    """
    allowed = {*STEP1_FIELDS, "target_column", "sensitive_columns"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    if "sensitive_columns" in fields:
        value = fields["sensitive_columns"] or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError({"sensitive_columns": "Give a list of column names."})
        fields["sensitive_columns"] = list(dict.fromkeys(value))
    if fields.get("target_column") is None and "target_column" in fields:
        fields["target_column"] = ""
    before = {name: getattr(project, name) for name in fields}
    for name, value in fields.items():
        setattr(project, name, value)
    columns_changed = any(
        before[name] != getattr(project, name)
        for name in ("target_column", "sensitive_columns", "task_type")
        if name in fields
    )
    try:
        project.full_clean()
        if columns_changed:
            _check_columns(project, project.target_column, project.sensitive_columns)
    except ValidationError:
        project.refresh_from_db()
        raise
    latest = (
        project.datasets.filter(status=DatasetStatus.READY).order_by("-version").first()
    )
    needs_job = (
        columns_changed
        and latest is not None
        and (project.target_column or project.sensitive_columns)
    )
    if needs_job:
        queue_require()
    with transaction.atomic():
        project.save()
        changed = {
            name: getattr(project, name)
            for name in fields
            if before[name] != getattr(project, name)
        }
        if changed:
            audit_record(
                actor=user,
                verb="project.updated",
                obj=project,
                project=project,
                data={k: v for k, v in changed.items() if k != "description"},
            )
        if needs_job:
            project_analyze_latest(project=project, dataset=latest, user=user)
    return project


def project_analyze_latest(*, project: Project, dataset: Dataset, user):
    """Start the analysis of a version; one still queued is kept (it reads the
    project's columns when it runs). One running refuses a second (JobConflict)."""
    queued = Job.objects.filter(
        kind="analyze",
        subject_type="dataset",
        subject_id=dataset.pk,
        status=JobStatus.QUEUED,
    ).first()
    if queued is not None:
        return queued
    return job_create(
        kind="analyze",
        project=project,
        subject_type="dataset",
        subject_id=dataset.pk,
        user=user,
    )


def membership_set(*, project: Project, user, role: str, actor) -> Membership:
    """Give a user a role in a project (owners manage members in the admin)."""
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    membership.full_clean()
    audit_record(
        actor=actor,
        verb="membership.set",
        obj=membership,
        project=project,
        data={"user": user.username, "role": role},
    )
    return membership
