from __future__ import annotations

from django.db import DatabaseError, connection
from ninja import Router, Schema, Status

from projects.services.jobs import queue_available

router = Router(tags=["health"])


class HealthOut(Schema):
    status: str
    database: str
    queue: str


@router.get("/health", auth=None, response={200: HealthOut, 503: HealthOut})
def health(request):
    """Liveness and dependencies: the database must answer, the queue may not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except DatabaseError:
        database = "unavailable"
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "queue": "ok" if queue_available() else "unavailable",
    }
    return Status(200 if database == "ok" else 503, body)
