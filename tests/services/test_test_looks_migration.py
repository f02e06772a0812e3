"""The migration that counts looks per data version carries the experiments'
own record of their test evaluations over, one look each."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("projects", "0006_study_checking")]
AFTER = [("projects", "0007_test_looks")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_it_carries_each_tested_experiment_over_as_one_look():
    apps = _migrate(BEFORE)
    try:
        User = apps.get_model("auth", "User")
        Project = apps.get_model("projects", "Project")
        Dataset = apps.get_model("projects", "Dataset")
        Experiment = apps.get_model("projects", "Experiment")
        olivia = User.objects.create(username="olivia")
        project = Project.objects.create(name="Churn", slug="churn")
        version = Dataset.objects.create(
            project=project, version=2, original_name="d.csv", source_format="csv"
        )
        at = timezone.now()
        tested = [
            Experiment.objects.create(
                project=project,
                dataset=version,
                algorithm="svm",
                test_evaluated_at=at,
                test_evaluated_by=by,
            )
            for by in (olivia, None)
        ]
        Experiment.objects.create(project=project, dataset=version, algorithm="knn")

        apps = _migrate(AFTER)

        TestLook = apps.get_model("projects", "TestLook")
        looks = list(TestLook.objects.order_by("experiment_id"))
        assert [
            (x.experiment_id, x.dataset_id, x.at, x.by_id, x.confirmed) for x in looks
        ] == [
            (tested[0].pk, version.pk, at, olivia.pk, False),
            (tested[1].pk, version.pk, at, None, False),
        ]
    finally:
        _migrate(_latest())


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()
