"""Step 4 through the API: suggested features, preview, the project's default spec."""

from __future__ import annotations

import json

import pytest

from projects.models import AuditEvent, Dataset

pytestmark = pytest.mark.django_db

SPLIT = {"train": 0.5, "validation": 0.25, "test": 0.25, "seed": 3}


def send(client, method, url, body):
    return getattr(client, method)(
        url, json.dumps(body), content_type="application/json"
    )


@pytest.fixture
def sci(api_as):
    return api_as("scientist")


@pytest.fixture
def prepared(sci, project, ready_dataset, profile_jobs):
    """Version 2: version 1 prepared with an empty recipe and a 50/25/25 split."""
    project.target_column = "churn"
    project.save()
    with profile_jobs():
        response = send(
            sci,
            "post",
            f"/api/datasets/{ready_dataset.pk}/prepare",
            {"recipe": {"steps": []}, "split": SPLIT},
        )
    assert response.status_code == 202, response.content
    dataset = Dataset.objects.get(pk=response.json()["dataset"]["id"])
    assert dataset.status == "ready"
    return dataset


def test_it_suggests_a_spec_without_the_target(api_as, prepared):
    response = api_as("viewer").get(f"/api/datasets/{prepared.pk}/suggested-features")
    assert response.status_code == 200
    columns = response.json()["columns"]
    assert "churn" not in columns
    assert columns["income"]["kind"] == "numeric"
    assert columns["city"]["kind"] == "categorical"


def test_it_previews_the_spec_fitted_on_the_training_rows_only(sci, prepared):
    spec = {
        "columns": {
            "age": {"kind": "numeric"},
            "city": {"kind": "categorical", "encoding": "onehot", "min_frequency": 1},
        }
    }
    response = send(
        sci,
        "post",
        f"/api/datasets/{prepared.pk}/features/preview",
        {"spec": spec},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["fit_rows"] == 100  # the 50% training split of 200 rows
    assert body["fitted_on"] == "train"
    assert body["n_features_out"] == 4
    assert body["feature_names"][0] == "age"
    assert {"city_Lyon", "city_Nice", "city_Paris"} <= set(body["feature_names"])
    assert body["shape"] == [100, 4]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"columns": {"nope": {"kind": "numeric"}}}, "spec.columns.nope"),
        ({"columns": {"city": {"kind": "numeric"}}}, "spec.columns.city"),
        (
            {"columns": {"age": {"kind": "numeric", "scaler": "wobbly"}}},
            "spec.columns.age",
        ),
        ({"columns": {"age": {"kind": "numeric"}}, "max_features_out": 0}, "spec"),
    ],
)
def test_it_names_the_field_of_a_bad_spec(sci, prepared, spec, field):
    response = send(
        sci,
        "post",
        f"/api/datasets/{prepared.pk}/features/preview",
        {"spec": spec},
    )
    assert response.status_code == 400, response.content
    assert response.json()["field"].startswith(field)


def test_it_refuses_a_spec_with_too_many_outputs_and_names_the_column(
    sci, prepared, settings
):
    settings.FEATURES_MAX_OUT = 3
    spec = {
        "columns": {
            "age": {"kind": "numeric"},
            "income": {"kind": "numeric"},
            "city": {"kind": "categorical", "encoding": "onehot", "min_frequency": 1},
        }
    }
    response = send(
        sci,
        "post",
        f"/api/datasets/{prepared.pk}/features/preview",
        {"spec": spec},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "spec.columns.city"


def test_it_saves_the_projects_default_spec(sci, project, prepared):
    spec = {"columns": {"age": {"kind": "numeric"}, "sex": {"kind": "categorical"}}}
    client = sci
    response = send(
        client,
        "put",
        f"/api/projects/{project.pk}/feature-spec",
        {"dataset_id": prepared.pk, "spec": spec},
    )
    assert response.status_code == 200, response.content
    saved = client.get(f"/api/projects/{project.pk}/feature-spec").json()["spec"]
    assert set(saved["columns"]) == {"age", "sex"}
    assert saved["columns"]["age"]["scaler"] == "standard"  # defaults spelled out
    assert AuditEvent.objects.filter(verb="project.feature_spec_set").count() == 1


def test_it_keeps_the_old_default_when_a_new_spec_is_bad(sci, project, prepared):
    project.feature_spec = {"columns": {"age": {"kind": "numeric"}}}
    project.save()
    response = send(
        sci,
        "put",
        f"/api/projects/{project.pk}/feature-spec",
        {"dataset_id": prepared.pk, "spec": {"columns": {"nope": {"kind": "numeric"}}}},
    )
    assert response.status_code == 400
    project.refresh_from_db()
    assert project.feature_spec == {"columns": {"age": {"kind": "numeric"}}}


def test_it_lets_a_viewer_read_but_not_write(
    api_as, api_for, outsider, project, prepared
):
    viewer = api_as("viewer")
    assert viewer.get(f"/api/projects/{project.pk}/feature-spec").status_code == 200
    body = {
        "dataset_id": prepared.pk,
        "spec": {"columns": {"age": {"kind": "numeric"}}},
    }
    url = f"/api/projects/{project.pk}/feature-spec"
    assert send(viewer, "put", url, body).status_code == 403
    preview = f"/api/datasets/{prepared.pk}/features/preview"
    assert send(viewer, "post", preview, {"spec": body["spec"]}).status_code == 403
    stranger = api_for(outsider)
    assert stranger.get(url).status_code == 404
    assert (
        stranger.get(f"/api/datasets/{prepared.pk}/suggested-features").status_code
        == 404
    )


def test_it_suggests_a_spec_that_validates_when_dates_are_stored_as_text(
    sci, project, owner, tmp_path, profile_jobs
):
    from projects.services.datasets import dataset_upload

    path = tmp_path / "dates.csv"
    path.write_text(
        "when,x\n" + "".join(f"2021/01/{d:02d},{d}\n" for d in range(1, 29))
    )
    with profile_jobs():
        dataset, _ = dataset_upload(
            project=project, user=owner, path=path, filename="dates.csv"
        )
    spec = sci.get(f"/api/datasets/{dataset.pk}/suggested-features").json()
    assert spec["columns"]["when"]["kind"] != "datetime"
    response = send(
        sci, "post", f"/api/datasets/{dataset.pk}/features/preview", {"spec": spec}
    )
    assert response.status_code == 200, response.content
