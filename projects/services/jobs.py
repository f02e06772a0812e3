"""Creating, enqueueing, cancelling, retrying and reconciling background jobs.

The Job row is the system of record. A job is enqueued only after the transaction
that created it commits, so a worker never sees a missing row and a rolled-back
request never starts a job (R06).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from projects.models import Job, JobStatus, Project

logger = logging.getLogger(__name__)

QUEUE_UNAVAILABLE = (
    "The job queue is unavailable right now, so nothing was started. "
    "Try again in a minute; if it persists, ask an administrator to check Redis."
)


class JobError(Exception):
    """A job failure whose message is meant for the user (shown, no traceback)."""


class QueueUnavailable(Exception):
    """Redis does not answer: nothing that needs a job can start."""

    def __init__(self, message: str = QUEUE_UNAVAILABLE):
        super().__init__(message)
        self.message = message


def queue_available() -> bool:
    try:
        return bool(django_rq.get_connection("default").ping())
    except (RedisError, OSError):
        return False


def queue_require() -> None:
    """Raise QueueUnavailable unless Redis answers (checked before any write)."""
    if not queue_available():
        raise QueueUnavailable()


def job_create(
    *,
    kind: str,
    project: Project,
    subject_type: str,
    subject_id: int,
    user=None,
    params: dict | None = None,
    queue: str = "default",
    retry_of: Job | None = None,
) -> Job:
    """Create a queued Job row and enqueue it once the current transaction commits."""
    job = Job(
        kind=kind,
        queue=queue,
        project=project,
        subject_type=subject_type,
        subject_id=subject_id,
        params=params or {},
        created_by=user if user is not None and user.is_authenticated else None,
        retry_of=retry_of,
        message="Waiting for a worker",
    )
    job.rq_id = str(job.id)
    job.full_clean()
    job.save()
    transaction.on_commit(lambda: job_enqueue(job_id=job.id))
    return job


def job_enqueue(*, job_id) -> None:
    """Put a committed Job on its RQ queue; an unreachable Redis fails the job."""
    job = Job.objects.get(pk=job_id)
    try:
        django_rq.get_queue(job.queue).enqueue(
            "projects.jobs.run_job", str(job.id), job_id=job.rq_id
        )
    except (RedisError, OSError) as exc:
        logger.warning("enqueue failed job=%s kind=%s error=%s", job.id, job.kind, exc)
        job_fail(job_id=job.id, reason=QUEUE_UNAVAILABLE)


def job_fail(*, job_id, reason: str, status: str = JobStatus.FAILED) -> bool:
    """Mark an active job failed (or cancelled) and let its kind clean up its subject.

    Returns False when the job had already ended, so callers never overwrite a
    finished outcome.
    """
    from projects.jobs import on_job_ended

    now = timezone.now()
    with transaction.atomic():
        changed = Job.objects.filter(pk=job_id, status__in=Job.ACTIVE).update(
            status=status,
            error=reason if status == JobStatus.FAILED else "",
            message=reason[:255],
            finished_at=now,
        )
        if changed:
            on_job_ended(Job.objects.get(pk=job_id))
    if changed:
        logger.info("job ended job=%s status=%s reason=%s", job_id, status, reason)
    return bool(changed)


def job_cancel(*, job: Job, user) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next step."""
    if not job.is_active:
        return job
    if job.status == JobStatus.QUEUED:
        with contextlib.suppress(NoSuchJobError, RedisError, OSError):
            connection = django_rq.get_connection(job.queue)
            RQJob.fetch(job.rq_id, connection=connection).cancel()
        job_fail(
            job_id=job.id, reason="Cancelled by the user", status=JobStatus.CANCELLED
        )
    else:
        Job.objects.filter(pk=job.pk).update(
            cancel_requested=True, message="Cancelling…"
        )
    job.refresh_from_db()
    return job


def job_retry(*, job: Job, user) -> Job:
    """Start a new job with the same kind, subject and parameters as an ended one."""
    from projects.jobs import on_job_retry

    queue_require()
    with transaction.atomic():
        new_job = job_create(
            kind=job.kind,
            project=job.project,
            subject_type=job.subject_type,
            subject_id=job.subject_id,
            params=job.params,
            queue=job.queue,
            user=user,
            retry_of=job,
        )
        on_job_retry(new_job)
    return new_job


def jobs_reconcile(*, now=None) -> list[str]:
    """Fail jobs whose worker vanished or whose queue entry was lost.

    - running with no heartbeat for JOB_STALE_SECONDS: "worker lost";
    - queued for JOB_QUEUED_LOST_SECONDS while RQ no longer knows the job (Redis
      restarted empty): "queue lost".
    Returns the ids of the jobs it failed.
    """
    now = now or timezone.now()
    failed: list[str] = []
    stale_before = now - timedelta(seconds=settings.JOB_STALE_SECONDS)
    for job in Job.objects.filter(
        status=JobStatus.RUNNING, heartbeat_at__lt=stale_before
    ):
        seconds = int((now - job.heartbeat_at).total_seconds())
        reason = (
            f"Worker lost: no heartbeat for {seconds} s. The worker process stopped "
            "while running this job; retry it."
        )
        if job_fail(job_id=job.id, reason=reason):
            failed.append(str(job.id))

    queued_before = now - timedelta(seconds=settings.JOB_QUEUED_LOST_SECONDS)
    old_queued = list(
        Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=queued_before)
    )
    if old_queued:
        try:
            connection = django_rq.get_connection("default")
            for job in old_queued:
                if not RQJob.exists(job.rq_id, connection=connection):
                    reason = (
                        "Queue lost: the job queue forgot this job (Redis restarted); "
                        "retry it."
                    )
                    if job_fail(job_id=job.id, reason=reason):
                        failed.append(str(job.id))
        except (RedisError, OSError):
            logger.warning("reconcile: Redis unavailable, queued jobs not checked")
    return failed
