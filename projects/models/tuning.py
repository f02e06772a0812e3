"""Step 8: tuning studies and their trials.

The sampler's state lives in Optuna's storage (on the same database); these rows are
what pages and the API read, and the record of what each trial did.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Study(models.Model):
    """A hyperparameter search over one algorithm on one prepared version."""

    class Strategy(models.TextChoices):
        GRID = "grid", "Grid"
        RANDOM = "random", "Random"
        BAYESIAN = "bayesian", "Bayesian (Optuna TPE)"
        HALVING = "halving", "Successive halving"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHING = "finishing", "Checking and training the best"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.FINISHING)

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="studies"
    )
    dataset = models.ForeignKey(
        "projects.Dataset", on_delete=models.PROTECT, related_name="studies"
    )
    algorithm = models.CharField(max_length=60)
    strategy = models.CharField(max_length=20, choices=Strategy.choices)
    search_space = models.JSONField(default=dict)
    feature_spec = models.JSONField(null=True, blank=True)
    features_overridden = models.BooleanField(default=False)
    # The objective: the project's primary metric when the study was created.
    metric = models.CharField(max_length=40)
    higher_is_better = models.BooleanField(default=True)
    max_trials = models.PositiveIntegerField(null=True, blank=True)
    time_budget_s = models.PositiveIntegerField(null=True, blank=True)
    cv_folds = models.PositiveSmallIntegerField(default=5)
    random_state = models.IntegerField(default=0)
    # How many trials may run at once (chains of trial jobs).
    parallelism = models.PositiveSmallIntegerField(default=2)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    # Trial slots handed out (reserved atomically, so the budget holds across
    # workers) and trials finished.
    trials_started = models.PositiveIntegerField(default=0)
    n_trials = models.PositiveIntegerField(default=0)
    best_params = models.JSONField(null=True, blank=True)
    best_score = models.FloatField(null=True, blank=True)
    best_trial_number = models.PositiveIntegerField(null=True, blank=True)
    # What the study trained when it ended: the best trial, or the defaults trial
    # when the best did not beat it by more than the noise between folds
    # (``projects.services.tuning.study_select``): kept, trial, params, score and
    # the evidence (best_trial, defaults_trial, gain, se, folds).
    selection = models.JSONField(default=dict, blank=True)
    # While the study checks its best against the defaults on new folds (status
    # finishing): the selection to confirm, the folds handed out to the check's
    # jobs and their scores (``projects.services.tuning.study_check_run``); {}
    # otherwise.
    checking = models.JSONField(default=dict, blank=True)
    best_experiment = models.ForeignKey(
        "projects.Experiment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="best_of_studies",
    )
    source_experiment = models.ForeignKey(
        "projects.Experiment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="studies_started",
    )
    optuna_name = models.CharField(max_length=80, unique=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_strategy_display()} search of {self.algorithm}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def chosen_params(self) -> dict | None:
        """The parameters the study trained (its selection, else its best)."""
        return self.selection.get("params", self.best_params)


class Trial(models.Model):
    """One parameter set tried by a study (its number is Optuna's)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        PRUNED = "pruned", "Pruned"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField()
    params = models.JSONField(default=dict)
    score = models.FloatField(null=True, blank=True)
    # Running CV mean after each fold (what the pruner saw).
    intermediate = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.RUNNING
    )
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The algorithm's defaults (within the space), tried first.
    is_defaults = models.BooleanField(default=False)
    job_id = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "number"], name="one_trial_number_per_study"
            )
        ]

    def __str__(self) -> str:
        return f"trial {self.number} of study {self.study_id}"
