"""Steps 5-7 through the API: catalog, experiments, leaderboard, test evaluation,
threshold, comments; the role matrix and bad input."""

from __future__ import annotations

import json

import pytest

from projects.models import AuditEvent, Experiment, ExperimentComment, Job, TestLook
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def send(client, method, url, body=None):
    return getattr(client, method)(
        url, json.dumps(body or {}), content_type="application/json"
    )


@pytest.fixture
def sci(api_as):
    return api_as("scientist")


@pytest.fixture
def trained(sci, project, prepared_dataset, profile_jobs):
    """A logistic regression trained through the API (and its baseline)."""
    with profile_jobs():
        response = send(
            sci,
            "post",
            f"/api/projects/{project.pk}/experiments",
            {
                "dataset_id": prepared_dataset.pk,
                "algorithm": "logistic_regression",
                "params": {"C": 0.5},
                "cv_folds": 3,
            },
        )
    assert response.status_code == 202, response.content
    return Experiment.objects.get(pk=response.json()["id"])


def _rows(project, dataset, n):
    Experiment.objects.bulk_create(
        Experiment(
            project=project,
            dataset=dataset,
            algorithm=("random_forest", "knn")[i % 2],
            status="succeeded",
            primary_score=i / n,
            params={"n_neighbors": i},
            metrics={"validation": {"f1_macro": i / n}},
        )
        for i in range(n)
    )


def test_it_lists_the_catalog_with_a_suggestion(api_as, project, prepared_dataset):
    response = api_as("viewer").get(
        f"/api/projects/{project.pk}/catalog?dataset_id={prepared_dataset.pk}"
    )

    assert response.status_code == 200
    body = response.json()
    keys = [a["key"] for a in body["algorithms"]]
    assert "svm" in keys and "baseline" in keys and "ridge" not in keys
    forest = next(a for a in body["algorithms"] if a["key"] == "random_forest")
    n_estimators = next(p for p in forest["params"] if p["name"] == "n_estimators")
    assert n_estimators["default"] == 200 and n_estimators["min"] == 10
    assert body["suggested"][0]["key"] == "logistic_regression"


def test_it_trains_an_experiment_and_answers_its_metrics(api_as, trained):
    body = api_as("viewer").get(f"/api/experiments/{trained.pk}").json()

    assert body["status"] == "succeeded"
    assert body["params"]["C"] == 0.5
    assert set(body["metrics"]) == {"cv", "train", "validation"}
    assert body["metrics"]["cv"]["f1_macro"]["std"] is not None
    assert body["baseline"]["metrics"]["validation"]["accuracy"] is not None
    assert body["passes_threshold"] in (True, False)
    assert body["beats_baseline"] in (True, False)
    assert body["fit_seconds"] > 0 and body["predict_ms_per_row"] > 0
    assert body["lineage"]["dataset_version"] == 2
    assert body["lineage"]["split"]["train"] > 0
    assert body["job"]["status"] == "succeeded"


def test_it_serves_the_dashboard_data_without_rows(api_as, trained):
    body = api_as("viewer").get(f"/api/experiments/{trained.pk}/evaluation").json()

    assert body["test"] is None
    roc = body["validation"]["roc"][0]
    assert len(roc["fpr"]) <= 200
    assert body["validation"]["analysis"]["importance"]


def test_it_evaluates_on_test_once(sci, trained, profile_jobs):
    with profile_jobs():
        first = send(sci, "post", f"/api/experiments/{trained.pk}/evaluate-test")
    again = send(sci, "post", f"/api/experiments/{trained.pk}/evaluate-test")

    assert first.status_code == 202
    assert Job.objects.get(pk=first.json()["job"]["id"]).status == "succeeded"
    assert again.status_code == 400
    assert again.json()["field"] == "test"
    assert "its scores are shown next to validation" in again.json()["message"]
    body = sci.get(f"/api/experiments/{trained.pk}").json()
    assert body["metrics"]["test"]["f1_macro"] is not None
    assert body["test_evaluated_at"]


def test_it_refuses_a_repeated_look_while_the_first_still_runs(sci, trained):
    # No body at all is a first look without confirmation.
    first = sci.generic("POST", f"/api/experiments/{trained.pk}/evaluate-test")
    again = send(
        sci, "post", f"/api/experiments/{trained.pk}/evaluate-test", {"confirm": True}
    )

    assert first.status_code == 202
    assert again.status_code == 400
    assert "that evaluation is still running" in again.json()["message"]
    assert Job.objects.filter(kind="evaluate_test").count() == 1
    assert TestLook.objects.filter(experiment=trained).count() == 1


def test_it_asks_to_confirm_a_second_look_at_the_versions_test_split(
    sci, api_as, trained, profile_jobs
):
    other = trained.baseline
    assert other.status == "succeeded" and other.dataset_id == trained.dataset_id
    with profile_jobs():
        first = send(sci, "post", f"/api/experiments/{trained.pk}/evaluate-test")
    assert first.status_code == 202

    refused = send(sci, "post", f"/api/experiments/{other.pk}/evaluate-test")

    assert refused.status_code == 409
    body = refused.json()
    assert body["field"] == "confirm"
    assert (
        f"The test split of version {trained.dataset.version} was already used "
        f"1 time, by experiment #{trained.pk}" in body["message"]
    )
    assert '{"confirm": true}' in body["message"]
    assert [look["experiment_id"] for look in body["test_looks"]] == [trained.pk]
    assert not Job.objects.filter(subject_id=other.pk, kind="evaluate_test").exists()
    assert not AuditEvent.objects.filter(
        verb="experiment.test_evaluated", object_id=str(other.pk)
    ).exists()

    with profile_jobs():
        confirmed = send(
            sci,
            "post",
            f"/api/experiments/{other.pk}/evaluate-test",
            {"confirm": True},
        )

    assert confirmed.status_code == 202
    assert Job.objects.get(pk=confirmed.json()["job"]["id"]).status == "succeeded"
    event = AuditEvent.objects.get(
        verb="experiment.test_evaluated", object_id=str(other.pk)
    )
    assert event.data["confirmed"] is True
    assert event.data["look"] == 2
    assert event.data["earlier_experiments"] == [trained.pk]
    assert event.actor is not None

    again = send(
        sci, "post", f"/api/experiments/{other.pk}/evaluate-test", {"confirm": True}
    )
    assert again.status_code == 400
    assert again.json()["field"] == "test"

    looks = (
        api_as("viewer").get(f"/api/datasets/{trained.dataset_id}").json()["test_looks"]
    )
    assert [(x["experiment_id"], x["by"]) for x in looks] == [
        (trained.pk, event.actor.username),
        (other.pk, event.actor.username),
    ]
    assert all(x["at"] for x in looks)


def test_it_refuses_a_confirm_that_is_not_a_boolean(sci, trained):
    response = send(
        sci, "post", f"/api/experiments/{trained.pk}/evaluate-test", {"confirm": "yes"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "confirm"
    assert not TestLook.objects.exists()


def test_it_lists_no_looks_for_an_unused_test_split(api_as, prepared_dataset):
    body = api_as("viewer").get(f"/api/datasets/{prepared_dataset.pk}").json()

    assert body["test_looks"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"algorithm": "ridge"}, "algorithm"),
        (
            {"algorithm": "random_forest", "params": {"max_depth": -1}},
            "params.max_depth",
        ),
        ({"algorithm": "svm", "params": {"kernel": "magic"}}, "params.kernel"),
        ({"algorithm": "svm", "cv_folds": 1}, "cv_folds"),
        (
            {"algorithm": "svm", "features": {"columns": {"x": {"kind": "numeric"}}}},
            "features.columns.x",
        ),
    ],
)
def test_it_refuses_bad_input_naming_the_field(
    sci, project, prepared_dataset, payload, field
):
    response = send(
        sci,
        "post",
        f"/api/projects/{project.pk}/experiments",
        {"dataset_id": prepared_dataset.pk, **payload},
    )

    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert not Experiment.objects.exists()


def test_it_refuses_a_version_that_was_not_prepared(sci, project, ready_dataset):
    response = send(
        sci,
        "post",
        f"/api/projects/{project.pk}/experiments",
        {"dataset_id": ready_dataset.pk, "algorithm": "svm"},
    )

    assert response.status_code == 400
    assert response.json()["field"] == "dataset_id"


def test_it_answers_503_when_the_queue_is_down(
    sci, project, prepared_dataset, queue_down
):
    response = send(
        sci,
        "post",
        f"/api/projects/{project.pk}/experiments",
        {"dataset_id": prepared_dataset.pk, "algorithm": "svm"},
    )

    assert response.status_code == 503
    assert not Experiment.objects.exists()


def test_it_refuses_training_to_viewers_and_approvers(
    api_as, project, prepared_dataset
):
    for role in ("viewer", "approver"):
        response = send(
            api_as(role),
            "post",
            f"/api/projects/{project.pk}/experiments",
            {"dataset_id": prepared_dataset.pk, "algorithm": "svm"},
        )
        assert response.status_code == 403, role


def test_it_hides_experiments_from_outsiders(api_for, outsider, trained):
    client = api_for(outsider)

    assert client.get(f"/api/experiments/{trained.pk}").status_code == 404
    assert client.get(f"/api/experiments/{trained.pk}/comments").status_code == 404
    assert (
        send(client, "post", f"/api/experiments/{trained.pk}/cancel").status_code == 404
    )


def test_it_refuses_a_version_of_another_project(
    api_for, owner, project, prepared_dataset
):
    other = ProjectFactory()
    MembershipFactory(project=other, user=owner, role="owner")

    response = send(
        api_for(owner),
        "post",
        f"/api/projects/{other.pk}/experiments",
        {"dataset_id": prepared_dataset.pk, "algorithm": "svm"},
    )

    assert response.status_code == 400
    assert response.json()["field"] == "dataset_id"


def test_it_orders_filters_and_pages_the_leaderboard(api_as, project, prepared_dataset):
    _rows(project, prepared_dataset, 30)
    viewer = api_as("viewer")

    best = viewer.get(f"/api/projects/{project.pk}/experiments?per_page=5").json()
    knn = viewer.get(
        f"/api/projects/{project.pk}/experiments?algorithm=knn&min_score=0.5"
    ).json()
    worst = viewer.get(f"/api/projects/{project.pk}/experiments?ordering=-score").json()

    assert best["count"] == 30 and best["pages"] == 6
    scores = [r["primary_score"] for r in best["results"]]
    assert scores == sorted(scores, reverse=True)
    assert {r["algorithm"] for r in knn["results"]} == {"knn"}
    assert all(r["primary_score"] >= 0.5 for r in knn["results"])
    assert worst["results"][0]["primary_score"] == 0


def test_it_names_an_unknown_ordering(api_as, project):
    response = api_as("viewer").get(
        f"/api/projects/{project.pk}/experiments?ordering=x"
    )

    # The document lists the orderings: an unknown one is a schema error.
    assert response.status_code == 422
    assert response.json()["field"] == "ordering"


def test_it_lists_in_a_constant_number_of_queries(
    api_as, project, prepared_dataset, django_assert_max_num_queries
):
    viewer = api_as("viewer")
    _rows(project, prepared_dataset, 5)
    with django_assert_max_num_queries(12) as few:
        viewer.get(f"/api/projects/{project.pk}/experiments?per_page=200")
    _rows(project, prepared_dataset, 100)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = viewer.get(f"/api/projects/{project.pk}/experiments?per_page=200")
    assert response.json()["count"] == 105


def test_it_lets_a_viewer_comment_and_refuses_an_empty_comment(api_as, trained):
    viewer = api_as("viewer")

    created = send(
        viewer, "post", f"/api/experiments/{trained.pk}/comments", {"body": "ok?"}
    )
    empty = send(
        viewer, "post", f"/api/experiments/{trained.pk}/comments", {"body": " "}
    )
    listed = viewer.get(f"/api/experiments/{trained.pk}/comments").json()

    assert created.status_code == 201
    assert empty.status_code == 422 and empty.json()["field"] == "body"
    assert [c["body"] for c in listed] == ["ok?"]
    assert listed[0]["author"] == "viewer-user"


def test_it_saves_a_threshold_for_a_binary_classifier(sci, api_as, trained):
    saved = send(
        sci, "post", f"/api/experiments/{trained.pk}/threshold", {"threshold": 0.4}
    )
    refused = send(
        api_as("viewer"),
        "post",
        f"/api/experiments/{trained.pk}/threshold",
        {"threshold": 0.4},
    )
    bad = send(
        sci, "post", f"/api/experiments/{trained.pk}/threshold", {"threshold": 2}
    )

    assert saved.status_code == 200 and "f1" in saved.json()
    assert refused.status_code == 403
    assert bad.status_code == 422 and bad.json()["field"] == "threshold"


def test_it_cancels_and_then_says_nothing_is_left_to_cancel(
    sci, project, prepared_dataset
):
    created = send(
        sci,
        "post",
        f"/api/projects/{project.pk}/experiments",
        {"dataset_id": prepared_dataset.pk, "algorithm": "svm"},
    )
    # Not committed in this test's transaction: the jobs were never enqueued.
    url = f"/api/experiments/{created.json()['id']}/cancel"

    first = send(sci, "post", url)
    second = send(sci, "post", url)

    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    assert second.status_code == 400 and second.json()["field"] == "status"


def test_it_counts_each_experiments_comments_in_the_list(
    api_as, project, prepared_dataset, owner
):
    _rows(project, prepared_dataset, 3)
    first, second, third = Experiment.objects.order_by("pk")
    for text in ("looks over-fitted", "agreed", "retrain?"):
        ExperimentComment.objects.create(experiment=second, author=owner, body=text)
    ExperimentComment.objects.create(experiment=first, author=owner, body="ok")

    results = api_as("viewer").get(f"/api/projects/{project.pk}/experiments").json()

    counts = {r["id"]: r["comments"] for r in results["results"]}
    assert counts == {first.pk: 1, second.pk: 3, third.pk: 0}
