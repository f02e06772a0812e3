from __future__ import annotations

from django.db import models

from projects.models import AuditEvent, Project


def audit_record(
    *,
    actor,
    verb: str,
    obj: models.Model,
    project: Project | None = None,
    data: dict | None = None,
) -> AuditEvent:
    """Append one audit event: who did what to which object."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        project=project,
        verb=verb,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        data=data or {},
    )
