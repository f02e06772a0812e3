"""The RQ worker class every `manage.py rqworker` uses (settings.RQ["WORKER_CLASS"]).

RQ forks a work horse per job. Without this, each horse imports pandas, pyarrow,
scikit-learn and Optuna itself, about 3 s of CPU per job (measured in B3), which
is most of a short tuning trial. Importing them once in the worker, before it
forks, lets every horse start warm. Optuna's storage is opened here too (0.3-0.9 s
of engine set-up and schema checks per trial otherwise), then its connections are
closed, so no database connection crosses the fork.

It also outlives Redis. RQ 3.0 retries a lost connection only while it waits for
a job; anywhere else (maintenance, the bookkeeping around a job, its own
heartbeat) it logs "found an unhandled exception, quitting" and its work loop
ends, or the ConnectionError escapes from its teardown; and django-rq's rqworker
exits at once if Redis is down when it starts. Here the worker waits until
Redis answers again (backoff from 1 s to 30 s, one log line each try) and starts
over; only a stop that was asked for (SIGTERM, Ctrl-C, --burst, --max-jobs)
ends it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time

import redis.exceptions
from rq import Worker as RQWorker

logger = logging.getLogger(__name__)

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RECONNECT_FIRST_WAIT = 1.0
RECONNECT_MAX_WAIT = 30.0


class Worker(RQWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stop_signalled = False
        from projects import jobs

        jobs.kind_label("")  # imports every job kind's service, ml/ and charts/

    def work(self, *args, **kwargs):
        # Here rather than in __init__: RQ also builds Worker objects to list the
        # workers (django-rq's admin pages), which need no storage.
        from projects.services.tuning import optuna_storage_prepare_for_fork

        try:
            optuna_storage_prepare_for_fork()
        except Exception:  # the database may be down: each trial then opens it
            logger.warning(
                "could not open Optuna's storage before forking", exc_info=True
            )
        asked_to_end = bool(
            kwargs.get("burst") or kwargs.get("max_jobs") or kwargs.get("max_idle_time")
        )
        while True:
            try:
                worked = super().work(*args, **kwargs)
            except REDIS_ERRORS as exc:
                if asked_to_end or self._stop_signalled:
                    raise
                logger.warning("worker %s: lost Redis (%s)", self.name, exc)
            else:
                if asked_to_end or self._stop_signalled:
                    return worked
                # RQ ended its loop on an error it logged; start over.
            if not self._wait_for_redis():
                return False
            # The old registration (if Redis kept it) would refuse a rebirth.
            with contextlib.suppress(*REDIS_ERRORS):
                self.register_death()
            logger.warning("worker %s: Redis answers again, back to work", self.name)

    def _set_ip_address(self, connection) -> None:
        # RQ's first Redis call, in __init__: django-rq's rqworker exits at once
        # if it fails. Wait for Redis instead (SIGTERM/Ctrl-C still end it).
        wait = RECONNECT_FIRST_WAIT
        while True:
            try:
                return super()._set_ip_address(connection)
            except REDIS_ERRORS as exc:
                logger.warning(
                    "worker %s: Redis does not answer (%s); next try in %.0f s",
                    self.name,
                    exc,
                    wait,
                )
            time.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX_WAIT)

    def request_stop(self, signum, frame):
        self._stop_signalled = True
        super().request_stop(signum, frame)

    def _wait_for_redis(self) -> bool:
        """Wait, with backoff, until Redis answers PING; False if asked to stop."""

        def stop(signum, frame):
            self._stop_signalled = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        wait = RECONNECT_FIRST_WAIT
        while not self._stop_signalled:
            try:
                self.connection.ping()
                return True
            except REDIS_ERRORS as exc:
                logger.warning(
                    "worker %s: Redis does not answer (%s); next try in %.0f s",
                    self.name,
                    exc,
                    wait,
                )
            deadline = time.monotonic() + wait
            while not self._stop_signalled and time.monotonic() < deadline:
                time.sleep(0.2)
            wait = min(wait * 2, RECONNECT_MAX_WAIT)
        return False
