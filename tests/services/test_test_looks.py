"""Looks at a version's test split under a double submit: the look and the job
are written together, once (real database, both threads at the same time)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from projects.models import AuditEvent, Dataset, Experiment, Job, TestLook
from projects.services.experiments import experiment_evaluate_test

pytestmark = pytest.mark.django_db(transaction=True)


def _submit_together(experiment, user, n: int = 2) -> list:
    """Call the service from ``n`` threads released at once; their outcomes."""
    barrier = threading.Barrier(n)
    outcomes: list = [None] * n

    def submit(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = experiment_evaluate_test(experiment=experiment, user=user)
        except Exception as exc:
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_it_records_one_look_and_one_job_under_a_double_submit(project, owner):
    version = Dataset.objects.create(
        project=project, version=2, original_name="d.csv", source_format="csv"
    )
    experiment = Experiment.objects.create(
        project=project, dataset=version, algorithm="svm", status="succeeded"
    )

    outcomes = _submit_together(experiment, owner)

    jobs = [o for o in outcomes if isinstance(o, Job)]
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(jobs) == 1 and len(refused) == 1, outcomes
    assert "already evaluated on the test split" in refused[0].message_dict["test"][0]
    assert TestLook.objects.filter(experiment=experiment).count() == 1
    assert Job.objects.filter(kind="evaluate_test").count() == 1
    assert AuditEvent.objects.filter(verb="experiment.test_evaluated").count() == 1
