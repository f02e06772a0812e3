"""``POST /deployments/<endpoint slug>/predict``: the native predict URL.

A plain Django view, outside /api/: no session, no user rate limit, no CSRF (the
caller is a program with a deployment key). Per request the database sees the
key lookup (with its endpoint) and the live-deployment lookup; the key's
last-used time is written at most once a minute.
"""

from __future__ import annotations

import json
import logging
import re
import uuid

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from projects.ml.serving import RowError
from projects.models import Endpoint
from projects.services.keys import deployment_key_authenticate
from projects.services.serving import (
    NothingLive,
    ServingUnavailable,
    TooManyRows,
    deployment_predict,
)

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def max_body_bytes() -> int:
    return settings.PREDICT_MAX_BYTES


def _answer(
    status: int,
    message: str,
    request_id: str,
    *,
    field: str | None = None,
    errors: list | None = None,
) -> JsonResponse:
    body = {"message": message, "field": field, "request_id": request_id}
    if errors is not None:
        body["errors"] = errors
    response = JsonResponse(body, status=status)
    response["X-Request-ID"] = request_id
    return response


def _request_id(request: HttpRequest) -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _bearer(request: HttpRequest) -> str:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


@csrf_exempt
def predict(request: HttpRequest, slug: str) -> JsonResponse:
    request_id = _request_id(request)
    if request.method != "POST":
        response = _answer(
            405, "Send the rows with POST (JSON body).", request_id, field="method"
        )
        response["Allow"] = "POST"
        return response
    key = deployment_key_authenticate(endpoint=slug, secret=_bearer(request))
    if key is None:
        if not Endpoint.objects.filter(slug=slug).exists():
            return _answer(404, f"No deployment named {slug!r}.", request_id)
        response = _answer(
            401,
            "A valid key for this deployment is required: send "
            "'Authorization: Bearer <deployment key>'.",
            request_id,
            field="Authorization",
        )
        response["WWW-Authenticate"] = 'Bearer realm="predict"'
        return response

    cap = max_body_bytes()
    too_large = _answer(
        413,
        f"The body is larger than the limit of {cap / 2**20:g} MB; send fewer "
        "rows per request.",
        request_id,
        field="body",
    )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > cap or getattr(request, "upload_too_large", False):
        return too_large
    raw = request.read(cap + 1)
    if len(raw) > cap:
        return too_large
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if hasattr(exc, "lineno")
            else ""
        )
        return _answer(
            400, f"The body is not valid JSON{where}.", request_id, field="body"
        )

    try:
        out = deployment_predict(
            endpoint=key.endpoint, body=body, request_id=request_id
        )
    except RowError as exc:
        return _answer(
            400,
            exc.message,
            request_id,
            field=exc.field or "body",
            errors=[
                {"row": e["row"], "column": e["column"], "message": e["message"]}
                for e in exc.errors
            ],
        )
    except TooManyRows as exc:
        return _answer(413, exc.message, request_id, field="records")
    except NothingLive:
        return _answer(
            404,
            f"Nothing is live on {slug!r}: approve a deployment first.",
            request_id,
        )
    except ServingUnavailable as exc:
        return _answer(503, exc.message, request_id)
    except Exception:
        logger.exception("predict failed on %s (request %s)", slug, request_id)
        return _answer(500, "Internal error. It has been logged.", request_id)
    response = JsonResponse(out)
    response["X-Request-ID"] = request_id
    return response
