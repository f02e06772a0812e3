"""The prepare job end to end with a real Redis and worker: success, failure, retry."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from projects.models import Dataset, Job
from projects.services.datasets import dataset_load_frame
from projects.services.jobs import job_retry
from projects.services.preparation import (
    SPLIT_COLUMN,
    dataset_prepare,
    dataset_suggested_recipe,
)

pytestmark = pytest.mark.django_db

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1}
DROP_ALL = {
    "steps": [{"op": "filter_rows", "column": "age", "operator": "gt", "value": 999}]
}


@pytest.fixture
def classified(project):
    project.target_column = "churn"
    project.save()
    return project


def test_it_stratifies_by_the_target_and_keeps_the_class_balance(
    classified, owner, ready_dataset, profile_jobs
):
    with profile_jobs():
        prepared, _job = dataset_prepare(
            dataset=ready_dataset, user=owner, recipe={"steps": []}, split=SPLIT
        )
    prepared.refresh_from_db()
    assert prepared.status == "ready", prepared.error
    assert prepared.split["method"] == "stratified"
    frame = dataset_load_frame(prepared)
    shares = frame.groupby(SPLIT_COLUMN, observed=True)["churn"].apply(
        lambda s: (s == "yes").mean()
    )
    overall = (frame["churn"] == "yes").mean()
    assert all(abs(share - overall) < 0.05 for share in shares)
    assert prepared.sha256 and prepared.size_bytes > 0
    assert prepared.n_columns == 5  # the split label is not a data column


def test_it_marks_the_version_failed_with_the_reason_when_every_row_goes(
    classified, owner, ready_dataset, profile_jobs
):
    with profile_jobs():
        prepared, job = dataset_prepare(
            dataset=ready_dataset, user=owner, recipe=DROP_ALL, split=SPLIT
        )
    job.refresh_from_db()
    prepared.refresh_from_db()
    assert job.status == "failed"
    assert "removed every row" in job.error
    assert prepared.status == "failed"
    assert "removed every row" in prepared.error
    assert not prepared.file


def test_it_runs_again_on_retry(classified, owner, ready_dataset, profile_jobs):
    with profile_jobs():
        prepared, job = dataset_prepare(
            dataset=ready_dataset, user=owner, recipe={"steps": []}, split=SPLIT
        )
    Job.objects.filter(pk=job.pk).update(status="failed", error="worker lost")
    Dataset.objects.filter(pk=prepared.pk).update(status="failed", error="worker lost")
    job.refresh_from_db()
    with profile_jobs():
        again = job_retry(job=job, user=owner)
    again.refresh_from_db()
    prepared.refresh_from_db()
    assert again.status == "succeeded"
    assert (prepared.status, prepared.error) == ("ready", "")


def test_it_refuses_to_prepare_a_version_still_being_profiled(
    classified, owner, churn_csv
):
    from projects.services.datasets import dataset_upload

    dataset, _job = dataset_upload(
        project=classified, user=owner, path=churn_csv, filename="c.csv"
    )
    with pytest.raises(ValidationError) as caught:
        dataset_prepare(dataset=dataset, user=owner, recipe=None, split=SPLIT)
    assert "not ready" in caught.value.message_dict["dataset"][0]
    with pytest.raises(ValidationError):
        dataset_suggested_recipe(dataset=dataset)
    assert Dataset.objects.count() == 1


def test_it_prepares_a_prepared_version_again(
    classified, owner, ready_dataset, profile_jobs
):
    with profile_jobs():
        first, _ = dataset_prepare(
            dataset=ready_dataset, user=owner, recipe={"steps": []}, split=SPLIT
        )
    first.refresh_from_db()
    recipe = {"steps": [{"op": "drop_columns", "columns": ["city"]}]}
    with profile_jobs():
        second, _ = dataset_prepare(
            dataset=first, user=owner, recipe=recipe, split={**SPLIT, "seed": 2}
        )
    second.refresh_from_db()
    assert second.status == "ready", second.error
    assert (second.version, second.parent_id) == (3, first.pk)
    frame = dataset_load_frame(second)
    assert list(frame.columns) == ["age", "income", "sex", "churn", SPLIT_COLUMN]
