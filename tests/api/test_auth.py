"""Who the API lets in: session + CSRF, Bearer tokens, and nothing else."""

from __future__ import annotations

import pytest
from django.test import Client

from projects.models import ApiToken, Project
from projects.services.tokens import token_create, token_revoke

pytestmark = pytest.mark.django_db

NEW = {"name": "Scripted", "task_type": "regression", "primary_metric": "rmse"}


@pytest.fixture
def raw_token(owner):
    return token_create(user=owner, name="ci")[1]


def test_it_accepts_a_session(client_for, owner, project):
    response = client_for(owner).get("/api/projects")
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()] == [project.slug]


def test_it_refuses_a_session_post_without_a_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/api/projects", NEW, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["message"] == "CSRF check Failed"
    assert not Project.objects.exists()


def test_it_accepts_a_session_post_with_the_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    client.get("/accounts/profile/")  # any page with a form sets the CSRF cookie
    response = client.post(
        "/api/projects",
        NEW,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert response.status_code == 201
    assert Project.objects.get().name == "Scripted"


def test_it_refuses_a_session_patch_without_a_csrf_token(owner, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.patch(
        f"/api/projects/{project.pk}", {"name": "Hijacked"}, "application/json"
    )
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.name != "Hijacked"


def test_it_accepts_a_bearer_token_without_csrf(raw_token, owner):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/projects",
        NEW,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_token}",
    )
    assert response.status_code == 201
    assert Project.objects.get().created_by == owner


def test_it_records_when_a_token_was_last_used(raw_token):
    Client().get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer lc_000000000000_not-a-real-secret",
        "Bearer not-even-our-format",
        "Bearer ",
        "Token {raw}",
        "Basic b2xpdmlhOnB3",
    ],
)
def test_it_refuses_a_wrong_token(client, raw_token, header):
    response = client.get(
        "/api/projects", HTTP_AUTHORIZATION=header.format(raw=raw_token)
    )
    assert response.status_code == 401
    assert response.json()["message"].startswith("Authentication required")


def test_it_refuses_a_token_with_a_changed_secret(client, raw_token):
    forged = raw_token[:-4] + ("aaaa" if not raw_token.endswith("aaaa") else "bbbb")
    response = client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401


def test_it_refuses_a_revoked_token(client, owner, raw_token):
    token_revoke(token=ApiToken.objects.get(), user=owner)
    response = client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    assert response.status_code == 401


@pytest.mark.parametrize("name", ["token", "access_token", "api_key", "bearer"])
def test_it_refuses_a_token_in_the_query_string(client, raw_token, name):
    response = client.get(f"/api/projects?{name}={raw_token}")
    assert response.status_code == 401


def test_it_refuses_anonymous_requests(client, project):
    assert client.get("/api/projects").status_code == 401
    assert client.get(f"/api/projects/{project.pk}").status_code == 401
    response = client.post("/api/projects", NEW, content_type="application/json")
    assert response.status_code == 401
    assert Project.objects.count() == 1
