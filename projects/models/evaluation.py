"""Step 7: the looks at a data version's test split.

The test split belongs to the data version, not to an experiment: every look at
it, whichever experiment takes it, spends some of its value as an unbiased
estimate. One row per look, so a version knows how often and by whom its test
rows were scored.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TestLook(models.Model):
    """One experiment's final evaluation on its version's test split."""

    __test__ = False  # a model, not a pytest test class

    dataset = models.ForeignKey(
        "projects.Dataset", on_delete=models.CASCADE, related_name="test_looks"
    )
    experiment = models.ForeignKey(
        "projects.Experiment", on_delete=models.CASCADE, related_name="test_looks"
    )
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # True when the version's test split had been used before and the user
    # confirmed looking again.
    confirmed = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            # The guard against a double submit: an experiment looks once.
            models.UniqueConstraint(
                fields=["dataset", "experiment"], name="one_test_look_per_experiment"
            )
        ]

    def __str__(self) -> str:
        return f"experiment {self.experiment_id} on dataset {self.dataset_id}"
