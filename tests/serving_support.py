"""Live deployments for the serving tests, without the approval flow.

H2's approval service (projects/services/deployments.py) puts a version live;
until the serving tests switch to it, these helpers write the same rows it does:
the endpoint of (project, environment), a live Deployment, and, on a swap, the
old one replaced and the new one live in one transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from projects.models import Deployment, Endpoint


def endpoint_of(project, environment: str = "staging") -> Endpoint:
    endpoint, _ = Endpoint.objects.get_or_create(
        project=project,
        environment=environment,
        defaults={"slug": f"{project.slug}-{environment}"},
    )
    return endpoint


def make_live(
    version, user, *, environment: str = "staging", unseen: str = "error"
) -> Deployment:
    """Put ``version`` live on its project's ``environment`` (replacing any)."""
    endpoint = endpoint_of(version.project, environment)
    now = timezone.now()
    with transaction.atomic():
        old = (
            Deployment.objects.select_for_update()
            .filter(endpoint=endpoint, status=Deployment.Status.LIVE)
            .first()
        )
        if old is not None:
            old.status = Deployment.Status.REPLACED
            old.ended_at = now
            old.save(update_fields=["status", "ended_at"])
        return Deployment.objects.create(
            project=version.project,
            endpoint=endpoint,
            model_version=version,
            status=Deployment.Status.LIVE,
            unseen_categories=unseen,
            requested_by=user,
            decided_by=user,
            decided_at=now,
            live_at=now,
            previous=old,
        )
