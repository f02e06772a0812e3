"""Personal API tokens: shown once, stored as a prefix and a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.utils import timezone

from projects.models import ApiToken
from projects.services.audit import audit_record

TOKEN_PREFIX = "lc_"  # noqa: S105 (a marker, not a secret)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns it and the raw value, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. 'laptop' or 'CI'."})
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    raw = f"{TOKEN_PREFIX}{prefix}_{secret}"
    token = ApiToken(user=user, name=name[:80], prefix=prefix, token_hash=_hash(raw))
    token.full_clean()
    token.save()
    audit_record(actor=user, verb="token.created", obj=token, data={"name": token.name})
    return token, raw


def token_authenticate(raw: str):
    """The active user a raw token belongs to, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    prefix = raw[len(TOKEN_PREFIX) :].split("_", 1)[0]
    token = (
        ApiToken.objects.select_related("user")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, _hash(raw)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def token_revoke(*, token: ApiToken, user) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=user, verb="token.revoked", obj=token)
