from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from projects.models import AuditEvent, Job, Membership, Project
from projects.services.datasets import dataset_upload
from projects.services.projects import project_create, project_update
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db


def _create(owner, **overrides):
    fields = {
        "name": "Churn",
        "task_type": "classification",
        "primary_metric": "roc_auc",
        "success_threshold": 0.8,
    } | overrides
    return project_create(user=owner, **fields)


def test_it_creates_a_project_owned_by_its_creator(owner):
    project = _create(owner)
    assert project.slug == "churn"
    assert Membership.objects.get(project=project).role == "owner"
    assert AuditEvent.objects.filter(verb="project.created").exists()


def test_it_gives_each_project_its_own_slug(owner):
    assert _create(owner).slug == "churn"
    assert _create(owner).slug == "churn-2"


@pytest.mark.parametrize(
    ("task", "metric", "threshold", "field"),
    [
        ("regression", "accuracy", 0.5, "primary_metric"),
        ("clustering", "rmse", 1.0, "primary_metric"),
        ("classification", "accuracy", 1.5, "success_threshold"),
        ("classification", "log_loss", -0.1, "success_threshold"),
        ("regression", "r2", 1.2, "success_threshold"),
        ("clustering", "silhouette", -2, "success_threshold"),
    ],
)
def test_it_refuses_invalid_combinations(owner, task, metric, threshold, field):
    with pytest.raises(ValidationError) as caught:
        _create(
            owner, task_type=task, primary_metric=metric, success_threshold=threshold
        )
    assert field in caught.value.message_dict
    assert not Project.objects.exists()


def test_it_knows_which_direction_is_better(owner):
    assert _create(owner, primary_metric="f1").higher_is_better
    rmse = _create(
        owner, task_type="regression", primary_metric="rmse", success_threshold=3
    )
    assert not rmse.higher_is_better
    assert rmse.threshold_text == "rmse ≤ 3"


def test_it_refuses_a_target_before_data_exists(project, owner):
    with pytest.raises(ValidationError) as caught:
        project_update(project=project, user=owner, target_column="churn")
    assert "Upload a data set first" in caught.value.message_dict["target_column"][0]
    project.refresh_from_db()
    assert project.target_column == ""


@pytest.mark.django_db(transaction=True)
def test_it_sets_the_target_and_starts_an_analysis(project, owner, tmp_path, run_jobs):
    dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv"),
        filename="c.csv",
    )
    run_jobs()
    project_update(project=project, user=owner, target_column="churn")
    job = Job.objects.filter(kind="analyze").get()
    run_jobs()
    job.refresh_from_db()
    assert job.status == "succeeded"
    dataset = project.datasets.get()
    assert dataset.analysis["target_column"] == "churn"
    classes = {
        c["value"] for c in dataset.analysis["target"]["distribution"]["classes"]
    }
    assert classes == {"yes", "no"}


@pytest.mark.django_db(transaction=True)
def test_it_refuses_columns_that_are_not_in_the_data(
    project, owner, tmp_path, run_jobs
):
    dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv"),
        filename="c.csv",
    )
    run_jobs()
    with pytest.raises(ValidationError) as caught:
        project_update(project=project, user=owner, target_column="nope")
    assert "not a column" in caught.value.message_dict["target_column"][0]
    with pytest.raises(ValidationError) as caught:
        project_update(project=project, user=owner, sensitive_columns=["sex", "nope"])
    assert "'nope'" in caught.value.message_dict["sensitive_columns"][0]
    project.refresh_from_db()
    assert (project.target_column, project.sensitive_columns) == ("", [])
    assert not Job.objects.filter(kind="analyze").exists()
