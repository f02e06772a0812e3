"""Deployment keys: open one endpoint's predict URL; shown once, stored hashed.

A key belongs to the endpoint (project + environment) of the deployment it was
created on, so it keeps working when another version is promoted or rolled back
behind that endpoint, and opens no other endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from projects.access import can
from projects.models import Deployment, DeploymentKey, Endpoint, Role
from projects.services.audit import audit_record

KEY_PREFIX = "lcd_"  # a marker, not a secret
# last_used_at is written at most this often per key (seconds).
LAST_USED_EVERY = 60


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def deployment_key_create(
    *, deployment: Deployment, user, name: str
) -> tuple[DeploymentKey, str]:
    """A new key for the deployment's endpoint; returns it and the raw secret,
    which is never stored (only its prefix and SHA-256 hash)."""
    if not can(user, deployment.project, Role.SCIENTIST):
        raise PermissionDenied("Only scientists and the owner can create keys.")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the key a name, e.g. 'billing service'."})
    if len(name) > 80:
        raise ValidationError({"name": "At most 80 characters."})
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = DeploymentKey(
        endpoint=deployment.endpoint,
        name=name,
        prefix=prefix,
        key_hash=_hash(raw),
        created_by=user,
    )
    key.full_clean()
    key.save()
    audit_record(
        actor=user,
        verb="deployment_key.created",
        obj=key,
        project=deployment.project,
        data={
            "name": key.name,
            "prefix": prefix,
            "endpoint": deployment.endpoint.slug,
            "deployment_id": deployment.pk,
        },
    )
    return key, raw


def deployment_key_revoke(*, key: DeploymentKey, user) -> DeploymentKey:
    """Revoke a key (a revoked key stays listed, with when it was revoked)."""
    endpoint = Endpoint.objects.select_related("project").get(pk=key.endpoint_id)
    if not can(user, endpoint.project, Role.SCIENTIST):
        raise PermissionDenied("Only scientists and the owner can revoke keys.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=user,
            verb="deployment_key.revoked",
            obj=key,
            project=endpoint.project,
            data={"name": key.name, "prefix": key.prefix, "endpoint": endpoint.slug},
        )
    return key


def deployment_key_authenticate(
    *, endpoint: Endpoint | str, secret: str
) -> DeploymentKey | None:
    """The active key ``secret`` is, if it opens ``endpoint`` (an Endpoint or its
    slug); None otherwise (unknown, revoked, or another endpoint's key).

    One query (the key and its endpoint); the hash is compared in constant time.
    Records the use at most once a minute per key.
    """
    if not secret or not secret.startswith(KEY_PREFIX):
        return None
    prefix = secret[len(KEY_PREFIX) :].split("_", 1)[0]
    if not prefix or len(prefix) > 16:
        return None
    key = (
        DeploymentKey.objects.select_related("endpoint")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.key_hash, _hash(secret)):
        return None
    if isinstance(endpoint, Endpoint):
        if key.endpoint_id != endpoint.pk:
            return None
    elif key.endpoint.slug != endpoint:
        return None
    now = timezone.now()
    if (
        key.last_used_at is None
        or (now - key.last_used_at).total_seconds() > LAST_USED_EVERY
    ):
        DeploymentKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def deployment_keys_of(deployment: Deployment):
    """The keys of the deployment's endpoint, newest first (revoked ones too)."""
    return DeploymentKey.objects.filter(
        endpoint_id=deployment.endpoint_id
    ).select_related("created_by")
