"""Step 9: registered model versions, the endpoints that serve them, deployment
requests with their approval, and the keys that open an endpoint.

An endpoint belongs to (project, environment): its predict URL and its keys stay
the same while versions are promoted and rolled back behind it. A ``Deployment``
is one request to put a version live on an endpoint; it goes
pending -> live | rejected, and a live one -> replaced | rolled_back. At most one
deployment is live per endpoint (a database constraint).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Environment(models.TextChoices):
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class ModelVersion(models.Model):
    """An immutable, numbered snapshot of a succeeded experiment, ready to serve.

    ``artifact`` is the signed serving pipeline (``projects.ml.serving``): raw rows
    in, predictions out. ``schema`` is ``{"columns": [{name, kind, categories?,
    min?, max?, nullable}], "target", "task_type", "classes"}``; ``contract`` is
    ``{"passes": bool | None, "parts": [...]}``; ``reference`` is the profile of
    the training rows that monitoring compares traffic against; ``card`` holds
    the model card's sections (generated, then editable).
    """

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="model_versions"
    )
    experiment = models.ForeignKey(
        "projects.Experiment", on_delete=models.PROTECT, related_name="model_versions"
    )
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True, max_length=5000)
    artifact = models.FileField(upload_to="models/", blank=True, max_length=255)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    schema = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    contract = models.JSONField(default=dict, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    reference = models.JSONField(null=True, blank=True)
    card = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="one_model_version_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project} model v{self.version}"


class Endpoint(models.Model):
    """Where a project's environment answers predictions; versions come and go."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="endpoints"
    )
    environment = models.CharField(max_length=20, choices=Environment.choices)
    # Public name in URLs: /deployments/<slug>/predict.
    slug = models.SlugField(max_length=160, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "environment"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "environment"], name="one_endpoint_per_environment"
            )
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def predict_path(self) -> str:
        """Where the endpoint answers predictions (the same for every version)."""
        from django.urls import reverse

        return reverse("deployment_predict", args=[self.slug])


class Deployment(models.Model):
    """One request to put a model version live on an endpoint, and its fate."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        REJECTED = "rejected", "Rejected"
        LIVE = "live", "Live"
        REPLACED = "replaced", "Replaced"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class Unseen(models.TextChoices):
        ERROR = "error", "Refuse the row (400)"
        ALLOW = "allow", "Predict and warn"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="deployments"
    )
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.PROTECT, related_name="deployments"
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="deployments"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING
    )
    # What a category the model never saw does to a prediction request.
    unseen_categories = models.CharField(
        max_length=10, choices=Unseen.choices, default=Unseen.ERROR
    )
    # Assembled from stored facts when the request is made; never recomputed.
    evidence = models.JSONField(default=dict, blank=True)
    # The environment's policy turned a failing check into a block.
    blocked = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    request_comment = models.TextField(blank=True, max_length=5000)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True, max_length=5000)
    live_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The deployment that was live on the endpoint when this one went live:
    # what a rollback returns to.
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint"],
                condition=Q(status="live"),
                name="one_live_deployment_per_endpoint",
            )
        ]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return f"{self.model_version} to {self.endpoint.environment} ({self.status})"

    @property
    def environment(self) -> str:
        return self.endpoint.environment


class DeploymentKey(models.Model):
    """A key that opens one endpoint: shown once, stored as a prefix and a hash."""

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="keys"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
