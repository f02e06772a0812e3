"""The JSON API (django-ninja): OpenAPI at /api/openapi.json, docs at /api/docs."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as SchemaValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer, django_auth
from ninja.throttling import SimpleRateThrottle

from projects.api.schemas import NUL_MESSAGE
from projects.security import client_ip, demo_login_allowed_for, is_demo_user
from projects.services.deployments import DeploymentConflict
from projects.services.jobs import JobConflict, QueueUnavailable
from projects.services.tokens import token_authenticate

logger = logging.getLogger(__name__)


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>`` with a personal API token."""

    def authenticate(self, request, token):
        user = token_authenticate(token)
        if user is None:
            return None
        if not demo_login_allowed_for(request) and is_demo_user(user):
            return None
        request.user = user
        # The rate limit counts per token, not per user.
        request.api_token_key = hashlib.sha256(token.encode()).hexdigest()[:32]
        return user


_throttle_outage_logged_at = 0.0


class _SharedThrottle(threading.local, SimpleRateThrottle):
    """ninja's sliding-window throttle on the shared "throttle" cache (Redis), with
    the rate read from settings on each request and the client address from
    projects.security. If the cache cannot be reached the request is let through
    and the outage logged (at most once a minute): rate limits must not take the
    API down with Redis. One instance serves every request, so its per-request
    state (key, history) is per thread (threading.local)."""

    cache = caches["throttle"]
    setting = ""

    def __init__(self) -> None:
        self.rate = None

    def get_ident(self, request):
        return client_ip(request)

    def allow_request(self, request) -> bool:
        global _throttle_outage_logged_at
        self.rate = getattr(settings, self.setting)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request)
        except Exception as exc:
            if time.monotonic() - _throttle_outage_logged_at > 60:
                _throttle_outage_logged_at = time.monotonic()
                logger.warning(
                    "API rate limits not applied: their cache (Redis) does not "
                    "answer (%s)",
                    exc,
                )
            return True

    def wait(self) -> float:
        # ninja answers None when the window is full; say when its oldest hit ends.
        if self.history:
            return max(1.0, self.duration - (self.now - self.history[-1]))
        return float(self.duration)


class TokenRateThrottle(_SharedThrottle):
    """API_RATE_USER per API token (or per user, for a browser session)."""

    scope = "token"
    setting = "API_RATE_USER"

    def get_cache_key(self, request):
        if getattr(request, "auth", None) is None:
            return None
        ident = getattr(request, "api_token_key", None) or f"user-{request.auth.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AddressRateThrottle(_SharedThrottle):
    """API_RATE_ANON per client address, for requests without a valid token or
    session (including those whose authentication failed)."""

    scope = "anon"
    setting = "API_RATE_ANON"

    def get_cache_key(self, request):
        if getattr(request, "auth", None) is not None:
            return None
        return self.cache_format % {
            "scope": self.scope,
            "ident": self.get_ident(request),
        }


class ObjectParser(Parser):
    """Every JSON body of this API is an object: `0` or `[]` is not a PATCH of
    nothing but a body that cannot be read (400)."""

    def parse_body(self, request):
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise ValueError("The body must be a JSON object.")
        return data

    def parse_querydict(self, data, list_fields, request):
        # PostgreSQL cannot hold a NUL character: refuse it where it arrives.
        for key, values in data.lists():
            if any("\x00" in item for item in [key, *values]):
                raise ValidationError({key: f"The value's {NUL_MESSAGE}."})
        return super().parse_querydict(data, list_fields, request)


class NulFreeAPI(NinjaAPI):
    """States in the document what BodyIn and the parser enforce: no request or
    answer text holds a NUL character (a pattern on every free string)."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        # Requests only: an answer may quote what was refused (an error names a
        # field a client sent).
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                _forbid_nul(operation.get("parameters"))
                _forbid_nul(operation.get("requestBody"))
        for name, component in schema.get("components", {}).get("schemas", {}).items():
            if not name.endswith("Out"):
                _forbid_nul(component)
        return schema


def _forbid_nul(node) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and not (
            {"format", "enum", "const", "pattern"} & node.keys()
        ):
            node["pattern"] = "^[^\\u0000]*$"
        for value in node.values():
            _forbid_nul(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_nul(value)


api = NulFreeAPI(
    title="Lifecycle API",
    version="1",
    description=(
        "Everything the browser does, a script can do. Authenticate with a session "
        "cookie (plus CSRF token) or `Authorization: Bearer <token>`; create tokens "
        "on your profile page or with `manage.py create_api_token <username>`. "
        'Errors are JSON: `{"message": ..., "field": ...}`.'
    ),
    auth=[BearerToken(), django_auth],
    throttle=[TokenRateThrottle(), AddressRateThrottle()],
    parser=ObjectParser(),
    urls_namespace="api",
)


def _error(request, status: int, message: str, field: str | None = None, **extra):
    body = {"message": message, "field": field, **extra}
    return api.create_response(request, body, status=status)


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any /api/ URL no operation matches (an unknown path, or an id that is not
    one: /api/datasets/abc, /api/jobs/not-a-uuid): JSON, not Django's HTML page."""
    return _error(request, 404, f"No API operation at {request.path}; see /api/docs.")


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    if hasattr(exc, "error_dict"):
        errors = {field: list(msgs) for field, msgs in exc.message_dict.items()}
        field = next(iter(errors))
        return _error(request, 400, errors[field][0], field, errors=errors)
    return _error(request, 400, exc.messages[0])


@api.exception_handler(JobConflict)
def on_job_conflict(request, exc: JobConflict):
    return _error(request, 409, exc.messages[0], "job")


@api.exception_handler(DeploymentConflict)
def on_deployment_conflict(request, exc: DeploymentConflict):
    return _error(request, 409, exc.message_text, exc.field)


@api.exception_handler(SchemaValidationError)
def on_schema_error(request, exc: SchemaValidationError):
    errors = []
    for error in exc.errors:
        # loc is (source, param, ...): drop the source and the body schema's
        # name, keep the rest (a File param named "file" must stay "file").
        loc = [str(p) for p in error.get("loc", ())[1:] if p != "payload"]
        errors.append({"field": ".".join(loc) or None, "message": error.get("msg", "")})
    first = errors[0] if errors else {"field": None, "message": "Invalid input."}
    message = (
        f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    )
    return _error(request, 422, message, first["field"], errors=errors)


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _error(request, 404, str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def on_forbidden(request, exc):
    return _error(request, 403, str(exc) or "You may not do this.")


def _too_many(request, wait: float | None):
    seconds = math.ceil(wait) if wait else 60
    response = _error(
        request,
        429,
        f"Too many requests: this API's rate limit is reached. Retry in {seconds} s.",
        retry_after=seconds,
    )
    response["Retry-After"] = str(seconds)
    return response


@api.exception_handler(Throttled)
def on_throttled(request, exc: Throttled):
    return _too_many(request, exc.wait)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    # Failed authentications count against the address's limit too, so that
    # guessing tokens is rate limited.
    throttle = AddressRateThrottle()
    if not throttle.allow_request(request):
        return _too_many(request, throttle.wait())
    return _error(
        request,
        401,
        "Authentication required: log in, or send 'Authorization: Bearer <token>'.",
    )


@api.exception_handler(QueueUnavailable)
def on_queue_unavailable(request, exc: QueueUnavailable):
    return _error(request, 503, exc.message)


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Exception)
def on_unexpected(request, exc):
    logger.exception("API error on %s %s", request.method, request.path)
    return _error(request, 500, "Internal error. It has been logged.")


from projects.api import (  # noqa: E402
    datasets,
    deployments,
    experiments,
    features,
    health,
    jobs,
    keys,
    projects,
    registry,
    tuning,
)

api.add_router("", health.router)
api.add_router("", projects.router)
api.add_router("", datasets.router)
api.add_router("", features.router)
api.add_router("", experiments.router)
api.add_router("", tuning.router)
api.add_router("", registry.router)
api.add_router("", jobs.router)
api.add_router("", deployments.router)
api.add_router("", keys.router)
