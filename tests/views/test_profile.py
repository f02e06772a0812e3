"""The profile page: personal API tokens, shown once and stored hashed."""

from __future__ import annotations

import re

import pytest

from projects.models import ApiToken, AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _create(client, name="laptop") -> str:
    response = client.post("/accounts/profile/", {"name": name})
    assert response.status_code == 200
    found = re.search(
        r'<code class="token" id="new-token">([^<]+)</code>', response.text
    )
    assert found, "the new token is shown"
    return found.group(1)


def test_it_shows_the_profile_page(client_for, owner):
    response = client_for(owner).get("/accounts/profile/")
    assert response.status_code == 200
    assert "API tokens" in response.text
    assert 'id="new-token"' not in response.text


def test_it_creates_a_token_and_shows_it_once(client_for, owner):
    client = client_for(owner)
    raw = _create(client)
    assert raw.startswith("lc_")
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (owner, "laptop")
    again = client.get("/accounts/profile/")
    assert raw not in again.text
    assert f"lc_{token.prefix}…" in again.text
    assert "laptop" in again.text


def test_it_stores_only_a_hash_of_the_token(client_for, owner):
    raw = _create(client_for(owner))
    row = ApiToken.objects.values().get()
    assert raw not in str(row)
    assert len(row["token_hash"]) == 64 and row["token_hash"] not in raw
    assert raw not in str(list(AuditEvent.objects.values()))


def test_it_makes_a_token_that_authenticates(client_for, owner, client):
    raw = _create(client_for(owner))
    client.logout()
    response = client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200


def test_it_asks_for_a_name(client_for, owner):
    response = client_for(owner).post("/accounts/profile/", {"name": ""})
    assert response.status_code == 400
    assert "This field is required." in response.text
    assert not ApiToken.objects.exists()


def test_it_revokes_a_token(client_for, owner, client):
    raw = _create(client_for(owner))
    token = ApiToken.objects.get()
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/profile/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "revoked" in client.get("/accounts/profile/").text
    client.logout()
    response = client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401


def test_it_lists_only_my_tokens(client_for, owner, outsider):
    _create(client_for(owner), name="olivias-laptop")
    response = client_for(outsider).get("/accounts/profile/")
    assert "olivias-laptop" not in response.text


def test_it_returns_404_when_revoking_someone_elses_token(client_for, owner, outsider):
    _create(client_for(owner))
    token = ApiToken.objects.get()
    response = client_for(outsider).post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_only_revokes_with_a_post(client_for, owner):
    _create(client_for(owner))
    token = ApiToken.objects.get()
    response = client_for(owner).get(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_redirects_anonymous_to_login(client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/profile/"
    assert client.post("/accounts/profile/", {"name": "x"}).status_code == 302
    assert not ApiToken.objects.exists()


def test_it_refuses_a_token_of_an_inactive_user(client_for, client):
    user = UserFactory(username="leaver")
    raw = _create(client_for(user))
    client.logout()
    user.is_active = False
    user.save()
    response = client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
