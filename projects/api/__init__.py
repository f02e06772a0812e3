"""The JSON API (django-ninja): OpenAPI at /api/openapi.json, docs at /api/docs."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError
from ninja.security import HttpBearer, django_auth

from projects.services.jobs import QueueUnavailable
from projects.services.tokens import token_authenticate

logger = logging.getLogger(__name__)


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>`` with a personal API token."""

    def authenticate(self, request, token):
        user = token_authenticate(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Lifecycle API",
    version="1",
    description=(
        "Everything the browser does, a script can do. Authenticate with a session "
        "cookie (plus CSRF token) or `Authorization: Bearer <token>`; create tokens "
        "on your profile page or with `manage.py create_api_token <username>`. "
        'Errors are JSON: `{"message": ..., "field": ...}`.'
    ),
    auth=[BearerToken(), django_auth],
    urls_namespace="api",
)


def _error(request, status: int, message: str, field: str | None = None, **extra):
    body = {"message": message, "field": field, **extra}
    return api.create_response(request, body, status=status)


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    if hasattr(exc, "error_dict"):
        errors = {field: list(msgs) for field, msgs in exc.message_dict.items()}
        field = next(iter(errors))
        return _error(request, 400, errors[field][0], field, errors=errors)
    return _error(request, 400, exc.messages[0])


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


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
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
    experiments,
    features,
    health,
    jobs,
    projects,
    tuning,
)

api.add_router("", health.router)
api.add_router("", projects.router)
api.add_router("", datasets.router)
api.add_router("", features.router)
api.add_router("", experiments.router)
api.add_router("", tuning.router)
api.add_router("", jobs.router)
