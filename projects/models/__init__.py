"""The lifecycle domain: fields, choices and small properties only.

Writes go through ``projects.services``; reads used by pages and the API through
``projects.selectors``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

# Ranges a success threshold may take, per metric: (low, high), None = unbounded.
METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    "accuracy": (0, 1),
    "balanced_accuracy": (0, 1),
    "f1": (0, 1),
    "f1_macro": (0, 1),
    "precision": (0, 1),
    "recall": (0, 1),
    "roc_auc": (0, 1),
    "log_loss": (0, None),
    "rmse": (0, None),
    "mae": (0, None),
    "r2": (None, 1),
    "mape": (0, None),
    "silhouette": (-1, 1),
    "davies_bouldin": (0, None),
    "calinski_harabasz": (0, None),
}

# Metrics per task type, and whether a higher value is better. The success
# threshold's direction follows from this table.
METRICS: dict[str, dict[str, bool]] = {
    "classification": {
        "accuracy": True,
        "balanced_accuracy": True,
        "f1": True,
        "f1_macro": True,
        "precision": True,
        "recall": True,
        "roc_auc": True,
        "log_loss": False,
    },
    "regression": {"rmse": False, "mae": False, "r2": True, "mape": False},
    "clustering": {
        "silhouette": True,
        "davies_bouldin": False,
        "calinski_harabasz": True,
    },
}


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"
    CLUSTERING = "clustering", "Clustering"


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    SCIENTIST = "scientist", "Scientist"
    APPROVER = "approver", "Approver"
    OWNER = "owner", "Owner"


class Project(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    description = models.TextField(blank=True)
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    business_goal = models.TextField(blank=True)
    primary_metric = models.CharField(max_length=40)
    success_threshold = models.FloatField(null=True, blank=True)
    latency_budget_ms = models.PositiveIntegerField(null=True, blank=True)
    target_column = models.CharField(max_length=255, blank=True)
    sensitive_columns = models.JSONField(default=list, blank=True)
    # Step 4: the project's default feature spec (projects.ml.features); an
    # experiment may override it.
    feature_spec = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        metrics = METRICS.get(self.task_type)
        if metrics is not None and self.primary_metric not in metrics:
            errors["primary_metric"] = (
                f"{self.primary_metric or 'This metric'} does not fit "
                f"{self.task_type}; choose one of: {', '.join(metrics)}."
            )
        elif self.success_threshold is not None:
            low, high = METRIC_RANGES[self.primary_metric]
            value = self.success_threshold
            if value != value or value in (float("inf"), float("-inf")):
                errors["success_threshold"] = "Give a finite number."
            elif (low is not None and value < low) or (
                high is not None and value > high
            ):
                bounds = (
                    f"between {low} and {high}"
                    if low is not None and high is not None
                    else (f"at least {low}" if low is not None else f"at most {high}")
                )
                errors["success_threshold"] = (
                    f"The threshold for {self.primary_metric} must be {bounds}."
                )
        if errors:
            raise ValidationError(errors)

    @property
    def higher_is_better(self) -> bool:
        return METRICS.get(self.task_type, {}).get(self.primary_metric, True)

    @property
    def threshold_text(self) -> str:
        if self.success_threshold is None:
            return "no threshold set"
        sign = "≥" if self.higher_is_better else "≤"
        return f"{self.primary_metric} {sign} {self.success_threshold:g}"

    @property
    def needs_target(self) -> bool:
        return self.task_type != TaskType.CLUSTERING


class Membership(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"], name="one_membership_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class DatasetStatus(models.TextChoices):
    INGESTING = "ingesting", "Ingesting"
    PREPARING = "preparing", "Preparing"
    PROFILING = "profiling", "Profiling"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def dataset_upload_key(instance: Dataset, filename: str) -> str:
    # Generated key: the user's file name never becomes a path.
    return f"datasets/{instance.project_id}/{uuid.uuid4().hex}.parquet"


class Dataset(models.Model):
    """One immutable version of a project's data, stored as Parquet."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="datasets"
    )
    version = models.PositiveIntegerField()
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # Empty while a prepared version is being computed.
    file = models.FileField(upload_to=dataset_upload_key, max_length=255, blank=True)
    original_name = models.CharField(max_length=255)
    source_format = models.CharField(max_length=20)
    source_encoding = models.CharField(max_length=20, blank=True)
    source_delimiter = models.CharField(max_length=4, blank=True)
    upload_bytes = models.BigIntegerField(default=0)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    n_rows = models.BigIntegerField(default=0)
    n_columns = models.PositiveIntegerField(default=0)
    schema = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=20, choices=DatasetStatus.choices, default=DatasetStatus.PROFILING
    )
    profile = models.JSONField(null=True, blank=True)
    # Target and sensitive-attribute analysis, recomputed when the project's choice
    # changes; records the choice it was computed for.
    analysis = models.JSONField(null=True, blank=True)
    # A prepared version: the fitted cleaning recipe that made it from its parent,
    # what each step did, and the split (spec, counts, warnings). The split labels
    # are a column of the Parquet file (SPLIT_COLUMN in services.preparation).
    recipe = models.JSONField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True)
    split = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="one_dataset_version_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.version}"

    @property
    def column_names(self) -> list[str]:
        return [field["name"] for field in self.schema]


class Experiment(models.Model):
    """One training run of one candidate on one prepared version.

    ``metrics`` holds ``{"cv": {metric: {"mean", "std", "folds"}}, "train": {...},
    "validation": {...}, "test": {...}}`` (test only after the explicit final
    evaluation); ``primary_score`` copies the validation value of the project's
    primary metric so the leaderboard can sort and filter in SQL.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="experiments"
    )
    dataset = models.ForeignKey(
        Dataset, on_delete=models.PROTECT, related_name="experiments"
    )
    name = models.CharField(max_length=120, blank=True)
    algorithm = models.CharField(max_length=60)
    params = models.JSONField(default=dict, blank=True)
    # The spec actually used (the override, else the project default, else the
    # suggestion at the time); overridden says which it was.
    feature_spec = models.JSONField(null=True, blank=True)
    features_overridden = models.BooleanField(default=False)
    is_baseline = models.BooleanField(default=False)
    baseline = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="candidates",
    )
    cv_folds = models.PositiveSmallIntegerField(default=5)
    random_state = models.IntegerField(default=0)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    metrics = models.JSONField(default=dict, blank=True)
    primary_score = models.FloatField(null=True, blank=True, db_index=True)
    # Dashboard data computed on the validation split (curves, matrices,
    # importance, learning curve, fairness): aggregated, never raw rows.
    evaluation = models.JSONField(null=True, blank=True)
    test_evaluation = models.JSONField(null=True, blank=True)
    test_evaluated_at = models.DateTimeField(null=True, blank=True)
    test_evaluated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The decision threshold chosen in the threshold explorer (binary tasks).
    threshold = models.FloatField(null=True, blank=True)
    fit_seconds = models.FloatField(null=True, blank=True)
    predict_ms_per_row = models.FloatField(null=True, blank=True)
    predict_ms_single = models.FloatField(null=True, blank=True)
    model_size_bytes = models.BigIntegerField(null=True, blank=True)
    artifact = models.FileField(upload_to="models/", blank=True, max_length=255)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    # Row counts, classes, input columns, output feature names.
    info = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return self.name or f"{self.algorithm} on {self.dataset}"

    @property
    def passes_threshold(self) -> bool | None:
        """Against the project's success contract; None when not decidable."""
        threshold = self.project.success_threshold
        if threshold is None or self.primary_score is None:
            return None
        if self.project.higher_is_better:
            return self.primary_score >= threshold
        return self.primary_score <= threshold

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class ExperimentComment(models.Model):
    """A team member's comment on an experiment (any member may comment)."""

    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author} on {self.experiment_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Job(models.Model):
    """System of record for every background job (Redis can lose a job, not this)."""

    ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
    RETRYABLE = (JobStatus.FAILED, JobStatus.CANCELLED)
    # Kinds that run several jobs on one subject at once (a study's trials).
    PARALLEL_KINDS = ("trial", "study_check")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40)
    queue = models.CharField(max_length=40, default="default")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    subject_type = models.CharField(max_length=40)
    subject_id = models.BigIntegerField()
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rq_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Storage names this job wrote (recorded before each write), so the files of
    # a job that failed or was lost can be removed when no row points at them.
    files = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one active job of a kind on a subject. Tuning runs several
            # trial and check jobs on one study at once by design: those kinds
            # are left out (the study's own status keeps one search per study).
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id"],
                condition=Q(status__in=["queued", "running"])
                & ~Q(kind__in=["trial", "study_check"]),
                name="one_active_job_per_subject",
            ),
            # A job is retried once: only its latest attempt can be retried.
            models.UniqueConstraint(fields=["retry_of"], name="one_retry_per_job"),
        ]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            models.Index(
                fields=["status", "heartbeat_at"],
                name="active_jobs",
                condition=Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_type}#{self.subject_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class AuditEvent(models.Model):
    """Who did what to which object, when. Append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="audit_events",
    )
    verb = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor} {self.verb} {self.object_type}#{self.object_id}"


class ApiToken(models.Model):
    """A personal API token: shown once, stored as a prefix and a SHA-256 hash."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


from projects.models.deployment import (  # noqa: E402
    Deployment,
    DeploymentKey,
    Endpoint,
    Environment,
    ModelVersion,
)
from projects.models.evaluation import TestLook  # noqa: E402
from projects.models.tuning import Study, Trial  # noqa: E402

__all__ = [
    "METRICS",
    "METRIC_RANGES",
    "ApiToken",
    "AuditEvent",
    "Dataset",
    "DatasetStatus",
    "Deployment",
    "DeploymentKey",
    "Endpoint",
    "Environment",
    "Experiment",
    "ExperimentComment",
    "Job",
    "JobStatus",
    "Membership",
    "ModelVersion",
    "Project",
    "Role",
    "Study",
    "TaskType",
    "TestLook",
    "Trial",
    "dataset_upload_key",
]
