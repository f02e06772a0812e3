from __future__ import annotations

import pytest
from django.test import Client

from projects.services.tokens import token_create
from tests.views.conftest import (  # noqa: F401
    _fast_passwords,
    churn_csv,
    prepared_dataset,
    profile_jobs,
    queue_down,
    ready_dataset,
    upload_tmp,
)


@pytest.fixture
def api_for(db):
    """api_for(user) -> a client that sends the user's Bearer token (no session).

    CSRF checks are on: requests with a token must not need a CSRF token.
    """

    def make(user) -> Client:
        _token, raw = token_create(user=user, name="tests")
        return Client(
            enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"}
        )

    return make


@pytest.fixture
def api_as(api_for, owner, member):
    """api_as("viewer" | "scientist" | "approver" | "owner") -> a token client."""

    def make(role: str) -> Client:
        return api_for(owner if role == "owner" else member(role))

    return make
