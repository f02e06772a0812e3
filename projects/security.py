"""Who may log in, and from which address a request comes.

- ``client_ip``: the address that login lockout (django-axes) and the API's rate
  limits count against. REMOTE_ADDR only, so that a client cannot reset its
  counters by sending its own X-Forwarded-For; behind a reverse proxy that appends
  to X-Forwarded-For, TRUSTED_PROXY_COUNT says how many hops to trust.
- Demo logins: the users that ``manage.py seed_demo`` creates are in the group
  DEMO_GROUP. Their password is in the README, so they may log in only while the
  app listens on loopback (HOST) and is not in production mode, and only from a
  loopback client address (in case gunicorn was started by hand on 0.0.0.0
  without HOST).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

DEMO_GROUP = "demo-logins"
DEMO_REFUSED = (
    "Demo logins from seed_demo work only from the machine Lifecycle runs on, "
    "while it listens on loopback (HOST=127.0.0.1) and is not in production mode. "
    "Here it listens on {host}{production}: log in with an account of your own "
    "(manage.py createsuperuser)."
)


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or the TRUSTED_PROXY_COUNT-th address
    from the right of X-Forwarded-For when the app is behind that many proxies."""
    remote = request.META.get("REMOTE_ADDR")
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops <= 0 or not forwarded:
        return remote
    addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
    if not addresses:
        return remote
    return addresses[-min(hops, len(addresses))]


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def demo_logins_allowed() -> bool:
    return not settings.PRODUCTION and is_loopback(settings.HOST)


def demo_login_allowed_for(request) -> bool:
    """Demo logins are on and this request comes from this machine."""
    if not demo_logins_allowed():
        return False
    address = client_ip(request) if request is not None else None
    return address is None or is_loopback(address)


def demo_refused_message() -> str:
    production = " in production mode" if settings.PRODUCTION else ""
    return DEMO_REFUSED.format(host=settings.HOST, production=production)


def is_demo_user(user) -> bool:
    return user.groups.filter(name=DEMO_GROUP).exists()


def is_refused_demo_username(username: str, request=None) -> bool:
    if demo_login_allowed_for(request) or not username:
        return False
    user_model = get_user_model()
    return user_model.objects.filter(
        **{user_model.USERNAME_FIELD: username}, groups__name=DEMO_GROUP
    ).exists()


class LoginBackend(ModelBackend):
    """Django's backend, refusing the demo users where demo logins are off (this
    covers every way in: the login page, the admin's login, API tokens)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username, password, **kwargs)
        if user is None or demo_login_allowed_for(request) or not is_demo_user(user):
            return user
        return None

    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        return demo_logins_allowed() or not is_demo_user(user)
