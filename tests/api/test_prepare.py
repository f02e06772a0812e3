"""Step 3 through the API: suggested recipe, preview, prepare (a real job)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from projects.models import AuditEvent, Dataset, Job
from projects.services.datasets import dataset_load_frame
from projects.services.preparation import SPLIT_COLUMN

pytestmark = pytest.mark.django_db

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 7}
IMPUTE = {"op": "impute", "column": "income", "strategy": "median"}


@pytest.fixture
def with_target(project):
    project.target_column = "churn"
    project.save()
    return project


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_it_suggests_a_recipe_from_the_profile(api_as, ready_dataset, with_target):
    response = api_as("viewer").get(
        f"/api/datasets/{ready_dataset.pk}/suggested-recipe"
    )
    assert response.status_code == 200
    steps = response.json()["steps"]
    impute = next(s for s in steps if s["op"] == "impute")
    assert impute["column"] == "income"
    assert impute["reason"].startswith("income: 10% missing")


def test_it_previews_a_recipe_on_the_first_rows(api_as, ready_dataset):
    response = post(
        api_as("scientist"),
        f"/api/datasets/{ready_dataset.pk}/preview",
        {"recipe": {"steps": [IMPUTE, {"op": "drop_columns", "columns": ["city"]}]}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["rows_in"], body["rows_out"]) == (200, 200)
    assert [s["values_changed"] for s in body["steps"]] == [20, 0]
    assert body["steps"][0]["missing_before"] == 20
    assert body["steps"][0]["missing_after"] == 0
    sample = body["sample"]
    assert "city" not in sample["columns"]
    income = sample["columns"].index("income")
    # The 20 rows whose income was filled come first, that cell marked.
    assert len(sample["rows"]) == 20
    for row, changed in zip(sample["rows"], sample["changed"], strict=True):
        assert [i for i, c in enumerate(changed) if c] == [income]
        assert float(row[income]) > 0


def test_it_prepares_a_new_version_with_its_recipe_report_and_split(
    api_as, ready_dataset, with_target, profile_jobs
):
    client = api_as("scientist")
    with profile_jobs():
        response = post(
            client,
            f"/api/datasets/{ready_dataset.pk}/prepare",
            {"recipe": {"steps": [IMPUTE]}, "split": SPLIT},
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["dataset"]["version"] == 2
    job = Job.objects.get(pk=body["job"]["id"])
    assert (job.kind, job.status) == ("prepare", "succeeded")

    got = client.get(f"/api/datasets/{body['dataset']['id']}").json()
    assert got["status"] == "ready"
    assert got["parent_id"] == ready_dataset.pk
    split = got["split"]
    assert (split["train"], split["validation"], split["test"]) == (120, 40, 40)
    assert got["split"]["spec"]["seed"] == 7
    assert got["recipe"]["steps"][0]["fitted"]["value"] > 0
    assert got["report"][0]["values_changed"] == 20
    assert got["n_rows"] == 200
    assert SPLIT_COLUMN not in [c["name"] for c in got["columns"]]
    assert got["profile"]["columns"][1]["missing"] == 0

    prepared = Dataset.objects.get(pk=body["dataset"]["id"])
    frame = dataset_load_frame(prepared)
    assert frame["income"].notna().all()
    assert frame[SPLIT_COLUMN].value_counts().to_dict() == {
        "train": 120,
        "validation": 40,
        "test": 40,
    }
    assert AuditEvent.objects.filter(verb="dataset.prepared").count() == 1


def test_it_uses_the_suggested_recipe_when_none_is_given(
    api_as, ready_dataset, with_target, profile_jobs
):
    with profile_jobs():
        response = post(
            api_as("scientist"),
            f"/api/datasets/{ready_dataset.pk}/prepare",
            {"split": SPLIT},
        )
    assert response.status_code == 202, response.content
    prepared = Dataset.objects.get(pk=response.json()["dataset"]["id"])
    assert prepared.status == "ready"
    ops = [s["op"] for s in prepared.recipe["steps"]]
    assert "impute" in ops


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"recipe": {"steps": [{**IMPUTE, "column": "nope"}]}, "split": SPLIT},
            "recipe.steps.0.column",
            "no such column",
        ),
        (
            {
                "recipe": {"steps": [{"op": "outliers", "column": "income", "k": -1}]},
                "split": SPLIT,
            },
            "recipe.steps.0.k",
            "greater than 0",
        ),
        (
            {"split": {**SPLIT, "train": 0.9}},
            "split",
            "sum to 1",
        ),
        (
            {"split": {**SPLIT, "time_column": "city"}},
            "split.time_column",
            "city",
        ),
        (
            {
                "recipe": {"steps": [{"op": "drop_columns", "columns": ["churn"]}]},
                "split": SPLIT,
            },
            "recipe",
            "drops the target",
        ),
    ],
)
def test_it_refuses_a_bad_recipe_or_split_and_writes_nothing(
    api_as, ready_dataset, with_target, body, field, words
):
    response = post(
        api_as("scientist"), f"/api/datasets/{ready_dataset.pk}/prepare", body
    )
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["field"].startswith(field), error
    assert words in error["message"]
    assert Dataset.objects.count() == 1
    assert not Job.objects.filter(kind="prepare").exists()


def test_it_refuses_a_stratified_split_with_a_class_of_one_row(
    api_as, project, owner, tmp_path, profile_jobs
):
    from projects.services.datasets import dataset_upload

    project.target_column = "y"
    project.save()
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": range(30), "y": ["a"] * 15 + ["b"] * 14 + ["c"]}).to_csv(
        path, index=False
    )
    with profile_jobs():
        dataset, _ = dataset_upload(
            project=project, user=owner, path=path, filename="one.csv"
        )
    response = post(
        api_as("scientist"),
        f"/api/datasets/{dataset.pk}/prepare",
        {"recipe": {"steps": []}, "split": {**SPLIT, "stratify": True}},
    )
    assert response.status_code == 400, response.content
    assert response.json()["field"].startswith("split")
    assert "'c'" in response.json()["message"]
    assert Dataset.objects.count() == 1


def test_it_names_the_field_when_preview_gets_a_bad_recipe(api_as, ready_dataset):
    response = post(
        api_as("scientist"),
        f"/api/datasets/{ready_dataset.pk}/preview",
        {"recipe": {"steps": [{"op": "filter_rows", "column": "city"}]}},
    )
    assert response.status_code == 400
    assert response.json()["field"].startswith("recipe.steps.0")


@pytest.mark.parametrize("path", ["preview", "prepare"])
def test_it_refuses_a_viewer_and_hides_from_an_outsider(
    api_as, api_for, outsider, ready_dataset, path
):
    body = {"recipe": {"steps": []}, "split": SPLIT}
    url = f"/api/datasets/{ready_dataset.pk}/{path}"
    assert post(api_as("viewer"), url, body).status_code == 403
    assert post(api_for(outsider), url, body).status_code == 404
    hidden = api_for(outsider).get(f"/api/datasets/{ready_dataset.pk}/suggested-recipe")
    assert hidden.status_code == 404
