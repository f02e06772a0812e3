"""API rate limits (django-ninja throttling): per token and per address, 429 with
Retry-After, counted in the real Redis, and let through when that Redis is down."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import Client

from tests.views.support import CLOSED_REDIS

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_limits(settings):
    settings.API_RATE_USER = "3/min"
    settings.API_RATE_ANON = "2/min"


def test_it_answers_429_with_retry_after_once_a_token_is_over_its_limit(
    low_limits, api_as
):
    client = api_as("owner")
    for _ in range(3):
        assert client.get("/api/projects").status_code == 200
    response = client.get("/api/projects")
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    body = response.json()
    assert body["message"].startswith("Too many requests")
    assert body["retry_after"] == retry_after


def test_it_counts_each_token_on_its_own(low_limits, api_for, owner):
    first, second = api_for(owner), api_for(owner)
    for _ in range(3):
        assert first.get("/api/projects").status_code == 200
    assert first.get("/api/projects").status_code == 429
    # Another token of the same user, from the same address, is not limited.
    assert second.get("/api/projects").status_code == 200


def test_it_limits_requests_without_a_token_per_address(low_limits):
    client = Client()
    for _ in range(2):
        assert client.get("/api/health").status_code == 200
    response = client.get("/api/health")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    # Another address is not limited.
    assert client.get("/api/health", REMOTE_ADDR="192.0.2.20").status_code == 200


def test_it_limits_token_guessing_per_address_not_spoofed_forwarded_for(low_limits):
    client = Client(headers={"Authorization": "Bearer lc_nope_guess"})
    for n in range(2):
        response = client.get("/api/projects", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        assert response.status_code == 401
    response = client.get("/api/projects", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 429
    assert "Retry-After" in response


def test_it_keeps_the_limits_in_redis_shared_by_every_process(low_limits, api_as):
    api_as("owner").get("/api/projects")
    cache = caches["throttle"]
    assert cache.__class__.__name__ == "RedisCache"
    keys = cache._cache.get_client().keys("lifecycle-throttle:*throttle_token_*")
    assert len(keys) == 1


def test_it_lets_requests_through_when_its_redis_is_down(
    low_limits, api_as, monkeypatch, caplog
):
    """A Redis outage must not take the API down with it: fail open, log it."""
    import projects.api as api_module

    down = RedisCache(CLOSED_REDIS, {"OPTIONS": {"socket_connect_timeout": 1}})
    monkeypatch.setattr(api_module.TokenRateThrottle, "cache", down)
    monkeypatch.setattr(api_module, "_throttle_outage_logged_at", -1e9)
    client = api_as("owner")
    for _ in range(5):
        assert client.get("/api/projects").status_code == 200
    assert "API rate limits not applied" in caplog.text
