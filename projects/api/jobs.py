from __future__ import annotations

from uuid import UUID

from ninja import Router, Status

from projects.access import get_job_for
from projects.api.responses import reads, writes
from projects.api.schemas import JobOut
from projects.models import Role
from projects.services.jobs import job_cancel, job_retry

router = Router(tags=["jobs"])


@router.get("/jobs/{uuid:job_id}", response=reads({200: JobOut}))
def get_job(request, job_id: UUID):
    return get_job_for(request.user, job_id, need=Role.VIEWER)


@router.post("/jobs/{uuid:job_id}/cancel", response=writes({200: JobOut}))
def cancel_job(request, job_id: UUID):
    job = get_job_for(request.user, job_id, need=Role.SCIENTIST)
    return job_cancel(job=job, user=request.user)


@router.post("/jobs/{uuid:job_id}/retry", response=writes({202: JobOut}, 409, 503))
def retry_job(request, job_id: UUID):
    """Retry a failed or cancelled job (its latest attempt only): 400 says why a
    job cannot be retried, 409 when the job is still active or another job of
    its kind is already active on its subject."""
    job = get_job_for(request.user, job_id, need=Role.SCIENTIST)
    if job.is_active:
        return Status(409, {"message": "The job is still active.", "field": None})
    return Status(202, job_retry(job=job, user=request.user))
