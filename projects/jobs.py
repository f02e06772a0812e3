"""RQ entry points. A job takes an id, claims its row, runs a service, records the end.

Claiming is atomic (``UPDATE ... WHERE status = 'queued'``), so a job delivered twice
runs once (R07). While it runs, a thread writes a heartbeat; the reconciler fails a
job whose heartbeat stops (R01).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from rq.timeouts import JobTimeoutException

from projects.models import Job, JobStatus
from projects.services.jobs import (
    JobCancelled,
    JobDiscarded,
    JobError,
    job_fail,
    job_files_remove,
)

logger = logging.getLogger(__name__)

__all__ = ["JobCancelled", "Progress", "run_job"]


@dataclass(frozen=True)
class JobKind:
    run: Callable[..., None]
    on_ended: Callable[[Job], None] | None = None  # failed or cancelled
    on_retry: Callable[[Job], None] | None = None
    label: str = ""


def _kinds() -> dict[str, JobKind]:
    from projects.services import datasets, experiments, preparation, tuning

    return {
        "ingest": JobKind(
            run=datasets.dataset_ingest_run,
            on_ended=datasets.dataset_ingest_ended,
            label="Reading, checking and profiling the upload",
        ),
        "profile": JobKind(
            run=datasets.dataset_profile_run,
            on_ended=datasets.dataset_profile_ended,
            on_retry=datasets.dataset_profile_retried,
            label="Profiling the data",
        ),
        "analyze": JobKind(
            run=datasets.dataset_analyze_run,
            label="Analysing the target and sensitive attributes",
        ),
        "prepare": JobKind(
            run=preparation.dataset_prepare_run,
            on_ended=preparation.dataset_prepare_ended,
            on_retry=preparation.dataset_prepare_retried,
            label="Cleaning, splitting and profiling",
        ),
        "train": JobKind(
            run=experiments.experiment_train_run,
            on_ended=experiments.experiment_train_ended,
            on_retry=experiments.experiment_train_retried,
            label="Training",
        ),
        "analyze_experiment": JobKind(
            run=experiments.experiment_analyze_run,
            label="Importance, learning curve and fairness",
        ),
        "evaluate_test": JobKind(
            run=experiments.experiment_evaluate_test_run,
            label="Final evaluation on the test split",
        ),
        "trial": JobKind(
            run=tuning.study_trial_run,
            on_ended=tuning.study_trial_ended,
            label="Tuning trial",
        ),
        "study_check": JobKind(
            run=tuning.study_check_run,
            on_ended=tuning.study_check_ended,
            label="Checking the best on new folds",
        ),
    }


def kind_label(kind: str) -> str:
    found = _kinds().get(kind)
    return found.label if found else kind


def on_job_ended(job: Job) -> None:
    kind = _kinds().get(job.kind)
    if kind and kind.on_ended:
        kind.on_ended(job)


def on_job_retry(job: Job) -> None:
    kind = _kinds().get(job.kind)
    if kind and kind.on_retry:
        kind.on_retry(job)


class Progress:
    """Callable handed to services: records progress and raises when cancelled."""

    min_interval = 0.5

    def __init__(self, job_id):
        self.job_id = job_id
        self._last = 0.0

    def __call__(self, percent: float, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last < self.min_interval and percent < 100:
            return
        self._last = now
        percent = max(0, min(100, int(percent)))
        Job.objects.filter(pk=self.job_id, status=JobStatus.RUNNING).update(
            progress=percent, message=message[:255], heartbeat_at=timezone.now()
        )
        if Job.objects.filter(pk=self.job_id, cancel_requested=True).exists():
            raise JobCancelled()


class Heartbeat(threading.Thread):
    """Writes heartbeat_at every JOB_HEARTBEAT_SECONDS while the job runs."""

    def __init__(self, job_id):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id = job_id
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                self.beat()
        finally:
            connection.close()

    def beat(self) -> None:
        """One heartbeat. A database error (a restart, a dropped connection) is
        logged and the connection closed, so the next beat reconnects: a
        transient error must not stop the heartbeat and get a live job failed."""
        try:
            Job.objects.filter(pk=self.job_id, status=JobStatus.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        except Exception as exc:  # the job itself reports; never crash it
            logger.warning("heartbeat failed job=%s error=%r", self.job_id, exc)
            connection.close()


def _finish(job_id, status: str, message: str, *, error: str = "") -> None:
    if status in (JobStatus.FAILED, JobStatus.CANCELLED):
        job_fail(job_id=job_id, reason=error or message, status=status)
        return
    Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=status, progress=100, message=message, finished_at=timezone.now()
    )


def run_job(job_id: str) -> str:
    """Run one Job row. Returns its final status (for RQ's result)."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        message="Started",
        worker=f"{socket.gethostname()}:{os.getpid()}"[:120],
    )
    if not claimed:
        logger.info("job not claimed (already taken or ended) job=%s", job_id)
        return "skipped"
    job = Job.objects.select_related("project").get(pk=job_id)
    kind = _kinds()[job.kind]
    heartbeat = Heartbeat(job.pk)
    heartbeat.start()
    started = time.monotonic()
    try:
        kind.run(job=job, progress=Progress(job.pk))
    except JobCancelled:
        _finish(job.pk, JobStatus.CANCELLED, "Cancelled by the user")
    except JobDiscarded:
        # The row ended without us (the reconciler failed it): its outcome stands,
        # and the files this attempt wrote after that are removed.
        job_files_remove(job_id=job.pk)
    except JobTimeoutException:
        _finish(
            job.pk,
            JobStatus.FAILED,
            "",
            error=f"Timed out after {int(time.monotonic() - started)} s.",
        )
    except (JobError, ValidationError) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        _finish(job.pk, JobStatus.FAILED, "", error=text)
    except Exception as exc:
        logger.exception("job crashed job=%s kind=%s", job.pk, job.kind)
        _finish(
            job.pk,
            JobStatus.FAILED,
            "",
            error=(
                f"Internal error ({type(exc).__name__}). The worker log has the "
                "details; retry, and tell an administrator if it fails again."
            ),
        )
    else:
        _finish(job.pk, JobStatus.SUCCEEDED, "Done")
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)
    status = Job.objects.values_list("status", flat=True).get(pk=job.pk)
    logger.info(
        "job finished job=%s kind=%s status=%s seconds=%.2f",
        job.pk,
        job.kind,
        status,
        time.monotonic() - started,
    )
    return status
