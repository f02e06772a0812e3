from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.django_db


def test_it_answers_without_authentication(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "queue": "ok"}


def test_it_says_the_queue_is_unavailable_when_redis_is_unreachable(client, queue_down):
    started = time.monotonic()
    response = client.get("/api/health")
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "queue": "unavailable"}


def test_it_only_answers_get(client):
    assert client.post("/api/health").status_code == 405
