"""POST /deployments/<endpoint slug>/predict: keys, bodies, errors, limits."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from projects.models import DeploymentKey
from projects.services.deployments import endpoint_for
from projects.services.keys import deployment_key_create, deployment_key_revoke
from projects.services.tokens import token_create
from tests.deploy_support import make_version, raw_rows
from tests.serving_support import make_live

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret(live, owner):
    return deployment_key_create(deployment=live, user=owner, name="tests")[1]


def url(deployment) -> str:
    return f"/deployments/{deployment.endpoint.slug}/predict"


def post(deployment, body, secret, **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    client = Client(enforce_csrf_checks=True)
    extra = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.post(
        url(deployment),
        data,
        content_type="application/json",
        headers={**extra, **headers},
    )


def test_it_predicts_records(live, secret):
    response = post(live, {"records": raw_rows(3)}, secret)
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == 3
    assert set(body["predictions"]) <= {"yes", "no"}
    assert body["model_version"] == 1
    assert body["request_id"] == response["X-Request-ID"]
    assert body["warnings"] == []
    assert [set(p) for p in body["probabilities"]] == [{"no", "yes"}] * 3
    assert all(abs(sum(p.values()) - 1) < 1e-9 for p in body["probabilities"])


def test_it_predicts_columns_and_data_the_same(live, secret):
    rows = raw_rows(4)
    names = list(rows[0])
    split = {"columns": names, "data": [[r[n] for n in names] for r in rows]}
    a = post(live, split, secret).json()
    b = post(live, {"records": rows}, secret).json()
    assert a["predictions"] == b["predictions"]
    assert a["probabilities"] == b["probabilities"]


def test_it_keeps_the_callers_request_id(live, secret):
    response = post(live, {"records": raw_rows(1)}, secret, **{"X-Request-ID": "abc-1"})
    assert response.json()["request_id"] == "abc-1"


def test_it_flags_values_outside_the_training_range(live, secret):
    rows = raw_rows(2)
    rows[1]["age"] = 150
    body = post(live, {"records": rows}, secret).json()
    assert len(body["predictions"]) == 2
    assert body["warnings"][0]["row"] == 1
    assert body["warnings"][0]["column"] == "age"
    assert body["warnings"][0]["code"] == "out_of_range"


def test_it_names_the_row_and_column_of_each_schema_error(live, secret):
    rows = raw_rows(3)
    rows[1]["age"] = "old"
    del rows[2]["city"]
    rows[2]["extra"] = 1  # ignored
    response = post(live, {"records": rows}, secret)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "records"
    assert body["errors"] == [
        {
            "row": 1,
            "column": "age",
            "message": "Row 1: column 'age' expects a number, got the string 'old'.",
        },
        {"row": 2, "column": "city", "message": "Row 2: column 'city' is missing."},
    ]
    assert body["message"].startswith("Row 1: column 'age'")


def test_it_refuses_an_unseen_category_unless_the_deployment_allows_it(
    project, owner, live, secret
):
    rows = raw_rows(1)
    rows[0]["city"] = "Rome"
    response = post(live, {"records": rows}, secret)
    assert response.status_code == 400
    assert response.json()["errors"][0]["column"] == "city"
    allowing = make_live(live.model_version, owner, unseen="allow")
    response = post(allowing, {"records": rows}, secret)
    assert response.status_code == 200
    assert response.json()["warnings"][0]["code"] == "unseen_category"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"rows": []}', "records"),
        (b'{"columns": ["age"], "data": 3}', "data"),
    ],
)
def test_it_refuses_a_body_it_cannot_read(live, secret, data, field):
    response = post(live, data, secret)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["message"]


def test_it_refuses_more_rows_than_the_limit(live, secret, settings):
    settings.PREDICT_MAX_ROWS = 5
    response = post(live, {"records": raw_rows(6)}, secret)
    assert response.status_code == 413
    assert "at most 5" in response.json()["message"]


def test_it_refuses_a_body_past_the_size_cap(live, secret, settings):
    settings.PREDICT_MAX_BYTES = 1000
    response = post(live, {"records": raw_rows(40)}, secret)
    assert response.status_code == 413
    assert response.json()["field"] == "body"


def test_it_wants_a_key(live):
    response = post(live, {"records": raw_rows(1)}, None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["field"] == "Authorization"


def test_it_refuses_a_revoked_key(live, secret, owner):
    deployment_key_revoke(key=DeploymentKey.objects.get(), user=owner)
    assert post(live, {"records": raw_rows(1)}, secret).status_code == 401


def test_it_refuses_another_endpoints_key(live, project, owner):
    other = make_live(make_version(project, owner), owner, environment="production")
    _key, other_secret = deployment_key_create(deployment=other, user=owner, name="p")
    assert post(live, {"records": raw_rows(1)}, other_secret).status_code == 401
    assert post(other, {"records": raw_rows(1)}, other_secret).status_code == 200


def test_it_refuses_a_users_api_token(live, owner):
    _token, raw = token_create(user=owner, name="personal")
    assert post(live, {"records": raw_rows(1)}, raw).status_code == 401


def test_it_refuses_a_logged_in_session_without_a_key(live, owner):
    client = Client()
    client.force_login(owner)
    response = client.post(
        url(live), {"records": raw_rows(1)}, content_type="application/json"
    )
    assert response.status_code == 401


def test_it_answers_404_for_an_unknown_deployment(secret):
    response = Client().post(
        "/deployments/no-such-thing/predict",
        "{}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 404
    assert response.json()["message"]


def test_it_answers_404_when_nothing_is_live(live, owner, project):
    # The key opens the endpoint, but nothing is live there any more.
    live.status = "rolled_back"
    live.save(update_fields=["status"])
    _key, key = deployment_key_create(deployment=live, user=owner, name="x")
    response = post(live, {"records": raw_rows(1)}, key)
    assert response.status_code == 404
    assert "Nothing is live" in response.json()["message"]
    assert (
        endpoint_for(project=project, environment="staging").slug == live.endpoint.slug
    )


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_it_takes_post_only(live, secret, method):
    response = getattr(Client(), method)(
        url(live), headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_the_next_request_gets_the_promoted_version(live, secret, project, owner):
    assert post(live, {"records": raw_rows(1)}, secret).json()["model_version"] == 1
    make_live(make_version(project, owner, C=0.01), owner)
    assert post(live, {"records": raw_rows(1)}, secret).json()["model_version"] == 2


def test_it_uses_two_queries_per_request_once_the_key_was_used(
    live, secret, django_assert_max_num_queries
):
    post(live, {"records": raw_rows(1)}, secret)  # loads; last_used_at written
    with django_assert_max_num_queries(2):
        assert post(live, {"records": raw_rows(1)}, secret).status_code == 200
