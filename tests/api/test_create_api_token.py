"""manage.py create_api_token <username>."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from projects.models import ApiToken

pytestmark = pytest.mark.django_db


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_a_token_that_authenticates(client, owner, project):
    out, err = _run("olivia")
    raw = out.strip().splitlines()[-1]
    assert raw.startswith("lc_")
    assert "shown only once" in err
    response = client.get("/api/projects", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()] == [project.pk]


def test_it_names_the_token(owner):
    _run("olivia", "--name", "nightly export")
    assert ApiToken.objects.get().name == "nightly export"


def test_it_stores_only_the_hash(owner):
    out, _err = _run("olivia")
    raw = out.strip().splitlines()[-1]
    assert raw not in str(ApiToken.objects.values().get())


def test_it_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match=r"No user named 'nobody'\."):
        _run("nobody")
    assert not ApiToken.objects.exists()
