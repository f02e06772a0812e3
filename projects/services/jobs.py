"""Creating, enqueueing, cancelling, retrying and reconciling background jobs.

The Job row is the system of record. A job is enqueued only after the transaction
that created it commits, so a worker never sees a missing row and a rolled-back
request never starts a job (R06).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta

import django_rq
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
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


# A temporary file of a write this old was left by a killed writer.
PARTIAL_FILE_SECONDS = 6 * 3600


class JobError(Exception):
    """A job failure whose message is meant for the user (shown, no traceback)."""


class JobCancelled(Exception):
    """Raised inside a job when the user asked it to stop."""


class JobDiscarded(Exception):
    """Raised inside a job whose row is no longer running as this attempt (the
    reconciler failed it, or it was cancelled): its result is not written."""


class JobConflict(ValidationError):
    """A second active job of one kind on one subject: the database refused it
    (constraint ``one_active_job_per_subject``). A 409 in the API."""

    def __init__(self, message: str):
        super().__init__({"job": message})


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
    # The database enforces one active job of a kind per subject (no
    # check-then-act); a second start, even a concurrent one, is refused here.
    job.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            job.save(force_insert=True)
    except IntegrityError:
        active = _active_twin(job)
        if active is None:
            raise
        from projects.jobs import kind_label

        raise JobConflict(
            f"{kind_label(kind)} is already {active.status} for this {subject_type} "
            f"(job {active.pk}); wait for it to end or cancel it."
        ) from None
    transaction.on_commit(lambda: job_enqueue(job_id=job.id))
    return job


def _active_twin(job: Job) -> Job | None:
    return (
        Job.objects.filter(
            kind=job.kind,
            subject_type=job.subject_type,
            subject_id=job.subject_id,
            status__in=Job.ACTIVE,
        )
        .exclude(pk=job.pk)
        .first()
    )


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


def job_fail(
    *, job_id, reason: str, status: str = JobStatus.FAILED, stale_before=None
) -> bool:
    """Mark an active job failed (or cancelled) and let its kind clean up its subject;
    then remove the files it wrote that no row points at.

    Returns False when the job had already ended, so callers never overwrite a
    finished outcome. ``stale_before`` (the reconciler's) fails it only while its
    heartbeat is still older than that: a job that just committed its result
    (``job_fence`` renews the heartbeat) is left to finish.
    """
    from projects.jobs import on_job_ended

    now = timezone.now()
    with transaction.atomic():
        active = Job.objects.filter(pk=job_id, status__in=Job.ACTIVE)
        if stale_before is not None:
            active = active.filter(heartbeat_at__lt=stale_before)
        changed = active.update(
            status=status,
            error=reason if status == JobStatus.FAILED else "",
            message=reason[:255],
            finished_at=now,
        )
        if changed:
            on_job_ended(Job.objects.get(pk=job_id))
    if changed:
        logger.info("job ended job=%s status=%s reason=%s", job_id, status, reason)
        job_files_remove(job_id=job_id)
    return bool(changed)


@contextlib.contextmanager
def job_fence(job: Job) -> Iterator[None]:
    """The transaction a job commits its result in, held only while the job row is
    still running as this attempt and not asked to stop.

    A conditional UPDATE on the Job row opens the transaction (and renews its
    heartbeat); the result's writes follow inside the same transaction, so the
    reconciler or a cancel cannot end the job between the check and the commit.
    No row: a cancel raises JobCancelled (checked here unthrottled, right before
    the commit); an ended job raises JobDiscarded and nothing is written.
    """
    with transaction.atomic():
        held = Job.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, cancel_requested=False
        ).update(heartbeat_at=timezone.now())
        if not held:
            _refuse(job)
        yield


def _refuse(job: Job) -> None:
    row = Job.objects.filter(pk=job.pk).values("status", "cancel_requested").first()
    if row and row["status"] == JobStatus.RUNNING and row["cancel_requested"]:
        raise JobCancelled()
    logger.warning(
        "job result discarded job=%s kind=%s status=%s",
        job.pk,
        job.kind,
        row["status"] if row else "deleted",
    )
    raise JobDiscarded()


def job_file_record(job: Job, name: str) -> None:
    """Note a storage name on the running job before its file is written, so
    the file of a job that fails or is lost can be found and removed."""
    job.files = [*job.files, name]
    if not Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        files=job.files
    ):
        _refuse(job)


def job_files_remove(*, job_id) -> None:
    """Delete the files an ended job wrote that no row points at (its result was
    never committed). Runs after the transaction that ended the job."""

    def remove() -> None:
        from projects.services.files import file_delete_unreferenced

        names = Job.objects.filter(pk=job_id).values_list("files", flat=True).first()
        for name in names or []:
            file_delete_unreferenced(name)

    transaction.on_commit(remove)


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


def job_retry_refusal(job: Job) -> str:
    """Why this job cannot be retried ("" when it can): only a failed or cancelled
    job, and only its latest attempt."""
    if job.status not in Job.RETRYABLE:
        return (
            f"Only a failed or cancelled job can be retried; this one {job.status}."
            if job.status == JobStatus.SUCCEEDED
            else f"Only a failed or cancelled job can be retried; this one is still "
            f"{job.status}."
        )
    newer = Job.objects.filter(retry_of=job).only("pk").first()
    if newer is not None:
        return (
            f"This job was already retried (job {newer.pk}); only the latest "
            "attempt can be retried."
        )
    return ""


def job_retry(*, job: Job, user) -> Job:
    """Start a new job with the same kind, subject and parameters as an ended one.

    Refused (ValidationError on ``status``) unless ``job_retry_refusal`` allows it;
    a retry raced by another start of the same kind gives JobConflict.
    """
    from projects.jobs import on_job_retry

    refusal = job_retry_refusal(job)
    if refusal:
        raise ValidationError({"status": refusal})
    queue_require()
    try:
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
    except IntegrityError:  # a concurrent retry of the same job won (one_retry_per_job)
        raise ValidationError(
            {"status": "This job was already retried; retry its latest attempt."}
        ) from None
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
        if job_fail(job_id=job.id, reason=reason, stale_before=stale_before):
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
    from projects.services.files import files_sweep_partial

    files_sweep_partial(older_than_seconds=PARTIAL_FILE_SECONDS)
    return failed
