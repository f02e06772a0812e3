"""Step 8 through the API: the proposed space, a study run to the end, bad input,
cancel, and the role matrix."""

from __future__ import annotations

import json

import pytest

from projects.models import Study

pytestmark = pytest.mark.django_db(transaction=True)

SPACE = {"max_depth": {"type": "int", "low": 1, "high": 6}}


def send(client, method, url, body=None):
    return getattr(client, method)(
        url, json.dumps(body or {}), content_type="application/json"
    )


@pytest.fixture
def sci(api_as):
    return api_as("scientist")


def _start(client, project, dataset, **kw):
    body = {
        "dataset_id": dataset.pk,
        "algorithm": "decision_tree",
        "strategy": "random",
        "max_trials": 4,
        "search_space": SPACE,
        "cv_folds": 3,
        **kw,
    }
    return send(client, "post", f"/api/projects/{project.pk}/studies", body)


def test_it_proposes_a_search_space(api_as, project):
    response = api_as("viewer").get(
        f"/api/projects/{project.pk}/search-space?algorithm=svm"
    )

    assert response.status_code == 200
    space = response.json()["search_space"]
    assert space["C"]["log"] is True
    assert space["degree"]["when"] == {"kernel": ["poly"]}


def test_it_names_an_unknown_algorithm(api_as, project):
    response = api_as("viewer").get(
        f"/api/projects/{project.pk}/search-space?algorithm=ridge"
    )

    assert response.status_code == 400 and response.json()["field"] == "algorithm"


def test_it_runs_a_study_and_answers_its_trials_and_best(
    sci, project, prepared_dataset, run_jobs
):
    # The tree's default leaf size (1) lies in this space: trial 0 tries it.
    space = {**SPACE, "min_samples_leaf": {"type": "int", "low": 1, "high": 20}}
    created = _start(sci, project, prepared_dataset, search_space=space)
    assert created.status_code == 202, created.content
    run_jobs()

    body = sci.get(f"/api/studies/{created.json()['id']}").json()

    assert body["status"] == "succeeded"
    assert body["n_trials"] == 4 and len(body["trials"]) == 4
    trial = body["trials"][0]
    assert set(trial) >= {"number", "params", "score", "status", "seconds"}
    best = max(t["score"] for t in body["trials"] if t["status"] == "complete")
    assert body["best"]["score"] == best
    # The best is trained unless its lead over the defaults is noise.
    assert [t["is_defaults"] for t in body["trials"]] == [True, False, False, False]
    selection = body["selection"]
    kept = {"best": body["best"]["trial"], "defaults": 0}[selection["kept"]]
    assert selection["trial"] == kept
    experiment = sci.get(f"/api/experiments/{body['best']['experiment_id']}").json()
    assert experiment["status"] == "succeeded"
    assert experiment["params"]["max_depth"] == selection["params"]["max_depth"]
    listed = sci.get(f"/api/projects/{project.pk}/studies").json()
    assert [s["id"] for s in listed] == [body["id"]]
    assert body["check"] is None  # the check on new folds, if any, has ended


def test_it_answers_how_far_the_check_on_new_folds_is(sci, project, prepared_dataset):
    created = _start(sci, project, prepared_dataset)
    Study.objects.filter(pk=created.json()["id"]).update(
        status="finishing", checking={"scores": [0.6, None, None, None]}
    )

    body = sci.get(f"/api/studies/{created.json()['id']}").json()

    assert body["status"] == "finishing"
    assert body["check"] == {"folds_done": 1, "folds": 4}


@pytest.mark.parametrize(
    ("kw", "field", "status"),
    [
        # What the document states is a schema error (422); what depends on
        # the project (a clustering algorithm here) the service refuses (400).
        ({"strategy": "annealing"}, "strategy", 422),
        (
            {"search_space": {"max_depth": {"type": "float"}}},
            "search_space.max_depth.type",
            400,
        ),
        ({"search_space": {}}, "search_space", 400),
        ({"max_trials": None}, "max_trials", 400),
        ({"time_budget_s": 3}, "time_budget_s", 422),
        ({"algorithm": "kmeans"}, "algorithm", 400),
    ],
)
def test_it_refuses_a_bad_study_naming_the_field(
    sci, project, prepared_dataset, kw, field, status
):
    response = _start(sci, project, prepared_dataset, **kw)

    assert response.status_code == status, response.content
    assert response.json()["field"] == field
    assert not Study.objects.exists()


def test_it_cancels_a_study(sci, project, prepared_dataset):
    created = _start(sci, project, prepared_dataset).json()

    first = send(sci, "post", f"/api/studies/{created['id']}/cancel")
    again = send(sci, "post", f"/api/studies/{created['id']}/cancel")

    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    assert again.status_code == 400 and again.json()["field"] == "status"


def test_it_refuses_viewers_and_hides_studies_from_outsiders(
    api_as, api_for, outsider, sci, project, prepared_dataset
):
    created = _start(sci, project, prepared_dataset).json()
    viewer = api_as("viewer")

    refused = _start(viewer, project, prepared_dataset)
    hidden = api_for(outsider).get(f"/api/studies/{created['id']}")
    cancel = send(viewer, "post", f"/api/studies/{created['id']}/cancel")

    assert refused.status_code == 403
    assert hidden.status_code == 404
    assert cancel.status_code == 403
