"""Logging in: lockout after repeated failures (django-axes), demo logins on
loopback only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from projects.security import DEMO_GROUP
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _login(client: Client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def _fail(client: Client, username: str, times: int, **extra) -> None:
    for _ in range(times):
        response = _login(client, username, "wrong-password", **extra)
        assert response.status_code in (200, 429)


def test_it_logs_in_with_the_right_password(password):
    user = UserFactory(username="nadia")
    response = _login(Client(), user.username, password)
    assert response.status_code == 302
    assert response.wsgi_request.user.is_authenticated


def test_it_locks_a_username_after_ten_failures_and_refuses_the_right_password(
    password,
):
    user = UserFactory(username="nadia")
    client = Client()
    _fail(client, user.username, 9)
    # Nine failures: not locked yet; the tenth locks.
    response = _login(client, user.username, "wrong-password")
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "locked for 15 minutes" in response.content.decode()

    response = _login(client, user.username, password)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    # The page is the login form with the message, not a bare error page.
    assert 'name="password"' in response.content.decode()


def test_it_does_not_lock_another_username_from_the_same_address(password):
    locked = UserFactory(username="nadia")
    other = UserFactory(username="omar")
    client = Client()
    _fail(client, locked.username, 10)
    assert _login(client, locked.username, password).status_code == 429
    response = _login(client, other.username, password)
    assert response.status_code == 302


def test_it_does_not_reset_the_lockout_for_a_spoofed_x_forwarded_for(password):
    user = UserFactory(username="nadia")
    client = Client()
    for n in range(10):
        _login(
            client,
            user.username,
            "wrong-password",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
    response = _login(
        client, user.username, password, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    assert response.status_code == 429
    assert not response.wsgi_request.user.is_authenticated


def test_it_counts_per_address_behind_a_trusted_proxy(settings, password):
    settings.TRUSTED_PROXY_COUNT = 1
    user = UserFactory(username="nadia")
    client = Client()
    _fail(client, user.username, 10, HTTP_X_FORWARDED_FOR="198.51.100.1")
    locked = _login(
        client, user.username, password, HTTP_X_FORWARDED_FOR="198.51.100.1"
    )
    assert locked.status_code == 429
    # Another client behind the same proxy is not locked out.
    response = _login(
        client, user.username, password, HTTP_X_FORWARDED_FOR="198.51.100.2"
    )
    assert response.status_code == 302


def test_it_lets_demo_logins_in_on_loopback(settings):
    settings.HOST = "127.0.0.1"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    response = _login(Client(), "sam", "lifecycle-demo")
    assert response.status_code == 302


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])  # noqa: S104
def test_it_refuses_demo_logins_when_the_app_listens_beyond_loopback(settings, host):
    settings.HOST = "127.0.0.1"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.HOST = host
    for username in ("admin", "sam"):
        response = _login(Client(), username, "lifecycle-demo")
        assert response.status_code == 200
        assert not response.wsgi_request.user.is_authenticated
        assert "Demo logins from seed_demo work only" in response.content.decode()
    # The admin's own login page refuses them too.
    response = Client().post(
        "/admin/login/", {"username": "admin", "password": "lifecycle-demo"}
    )
    assert not response.wsgi_request.user.is_authenticated


def test_it_refuses_demo_logins_from_another_machine(settings):
    """gunicorn started by hand on 0.0.0.0 without HOST: the client decides."""
    settings.HOST = "127.0.0.1"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    response = _login(Client(REMOTE_ADDR="192.0.2.44"), "admin", "lifecycle-demo")
    assert not response.wsgi_request.user.is_authenticated
    assert "Demo logins from seed_demo work only" in response.content.decode()


def test_it_refuses_demo_logins_in_production_mode(settings):
    settings.HOST = "127.0.0.1"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.PRODUCTION = True
    response = _login(Client(), "admin", "lifecycle-demo")
    assert not response.wsgi_request.user.is_authenticated
    assert "Demo logins from seed_demo work only" in response.content.decode()


def test_it_ends_a_demo_session_once_the_app_listens_beyond_loopback(settings):
    settings.HOST = "127.0.0.1"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    client = Client()
    assert _login(client, "sam", "lifecycle-demo").status_code == 302
    assert client.get("/").status_code == 200
    settings.HOST = "0.0.0.0"  # noqa: S104
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_it_keeps_other_users_logging_in_beyond_loopback(settings, password):
    settings.HOST = "0.0.0.0"  # noqa: S104
    Group.objects.get_or_create(name=DEMO_GROUP)
    user = UserFactory(username="nadia")
    assert _login(Client(), user.username, password).status_code == 302


def test_it_refuses_a_demo_users_api_token_beyond_loopback(settings):
    from django.contrib.auth import get_user_model

    from projects.services.tokens import token_create

    settings.HOST = "127.0.0.1"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    _token, raw = token_create(
        user=get_user_model().objects.get(username="sam"), name="t"
    )
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get("/api/projects").status_code == 200
    settings.HOST = "0.0.0.0"  # noqa: S104
    assert client.get("/api/projects").status_code == 401
