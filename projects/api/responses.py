"""Every status an API operation can answer, declared in one place.

Each operation's ``response=`` is built here, so the OpenAPI document names every
answer a client can get (a client generated from it knows them all) and the fuzz
run (tests/api/test_fuzz.py) can hold the API to it. Add a code to ``ERRORS`` to
declare a new kind of refusal; pass it to ``reads``/``writes`` where it applies.
"""

from __future__ import annotations

from typing import Any

from ninja import Schema


class ErrorOut(Schema):
    """Every refusal: a sentence for people, the field it is about, all errors."""

    message: str
    field: str | None = None
    errors: dict[str, list[str]] | list[dict[str, Any]] | None = None


# What each refusal means here (docs/api.md repeats it for people).
ERRORS = {
    400: "The request is well formed but refused: a value the project's data or "
    "rules do not allow, an unreadable body, or a state that forbids the action.",
    401: "Not authenticated: log in, or send `Authorization: Bearer <token>`.",
    403: "Your role in the project does not allow this (or the session's CSRF "
    "token is missing).",
    404: "No such object, or it belongs to a project you are not a member of.",
    409: "The object's state forbids this now (e.g. the job is still active).",
    413: "The upload is larger than the configured limit (UPLOAD_MAX_BYTES).",
    422: "The request does not match this document (a field is missing, has the "
    "wrong type or lies out of range).",
    429: "Too many requests: wait for `Retry-After` seconds.",
    503: "The job queue is unavailable: nothing was started; try again later.",
}

# Every authenticated operation can answer these; writes can also answer 403.
COMMON = (400, 401, 404, 422, 429)


def reads(ok: dict[int, Any], *extra: int) -> dict[int, Any]:
    """``response=`` of an operation that changes nothing."""
    return _answers(ok, (*COMMON, *extra))


def writes(ok: dict[int, Any], *extra: int) -> dict[int, Any]:
    """``response=`` of an operation that changes something (role-checked)."""
    return _answers(ok, (*COMMON, 403, *extra))


def _answers(ok: dict[int, Any], codes: tuple[int, ...]) -> dict[int, Any]:
    unknown = set(codes) - set(ERRORS)
    if unknown:
        raise ValueError(
            f"Undeclared error codes {sorted(unknown)}: add them to ERRORS."
        )
    return {**ok, **dict.fromkeys(sorted(set(codes)), ErrorOut)}
