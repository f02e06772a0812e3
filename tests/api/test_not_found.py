"""Any /api/ URL no operation matches answers JSON, not Django's HTML 404 page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/jobs/not-a-uuid",
        "/api/jobs/not-a-uuid/cancel",
        "/api/datasets/abc",
        "/api/experiments/1.5",
        "/api/projects/-1",
        "/api/no-such-thing",
        "/api/",
    ],
)
def test_it_answers_json_for_a_url_no_operation_matches(api_for, owner, url):
    client = api_for(owner)

    for response in (client.get(url), client.post(url, {}, "application/json")):
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
        assert response.json() == {
            "message": f"No API operation at {url}; see /api/docs.",
            "field": None,
        }


def test_it_answers_json_for_an_id_that_names_nothing(api_for, owner):
    response = api_for(owner).get("/api/datasets/99999999999999999999")

    assert response.status_code == 404
    assert response.json()["message"] == "No such dataset."
