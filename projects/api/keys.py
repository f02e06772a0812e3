"""Deployment keys: create (the secret shown once), list (no secrets), revoke.

A key opens the predict URL of the deployment's endpoint (project + environment);
see docs/deployment.md, "Predictions".
"""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Router, Schema, Status

from projects.access import get_deployment_for, get_deployment_key_for
from projects.api.responses import reads, writes
from projects.api.schemas import BodyIn
from projects.models import Role
from projects.services.keys import (
    deployment_key_create,
    deployment_key_revoke,
    deployment_keys_of,
)

router = Router(tags=["deployments"])


class KeyIn(BodyIn):
    # Something to read, and no NUL (PostgreSQL cannot store one).
    name: str = Field(
        ..., min_length=1, max_length=80, pattern=r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None


class KeyCreatedOut(KeyOut):
    key: str = Field(..., description="The secret: shown this once, never again.")


def _key(key) -> dict:
    return {
        "id": key.pk,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
        "created_by": key.created_by.username if key.created_by else None,
    }


@router.post(
    "/deployments/{int:deployment_id}/keys", response=writes({201: KeyCreatedOut})
)
def create_key(request, deployment_id: int, payload: KeyIn):
    """A key for the deployment's endpoint (scientist or owner). The answer holds
    the secret (`key`) this once: store it now."""
    deployment = get_deployment_for(request.user, deployment_id, need=Role.SCIENTIST)
    key, secret = deployment_key_create(
        deployment=deployment, user=request.user, name=payload.name
    )
    return Status(201, {**_key(key), "key": secret})


@router.get(
    "/deployments/{int:deployment_id}/keys", response=reads({200: list[KeyOut]})
)
def list_keys(request, deployment_id: int):
    """The endpoint's keys, newest first, revoked ones included; no secrets."""
    deployment = get_deployment_for(request.user, deployment_id, need=Role.VIEWER)
    return [_key(k) for k in deployment_keys_of(deployment)]


@router.delete(
    "/deployments/{int:deployment_id}/keys/{int:key_id}",
    response=writes({200: KeyOut}),
)
def revoke_key(request, deployment_id: int, key_id: int):
    """Revoke a key (scientist or owner): it opens nothing from now on."""
    key = get_deployment_key_for(
        request.user, deployment_id, key_id, need=Role.SCIENTIST
    )
    return _key(deployment_key_revoke(key=key, user=request.user))
