"""The RQ worker class every `manage.py rqworker` uses (settings.RQ["WORKER_CLASS"]).

RQ forks a work horse per job. Without this, each horse imports pandas, pyarrow,
scikit-learn and Optuna itself, about 3 s of CPU per job (measured in B3), which
is most of a short tuning trial. Importing them once in the worker, before it
forks, lets every horse start warm. Optuna's storage is opened here too (0.3-0.9 s
of engine set-up and schema checks per trial otherwise), then its connections are
closed, so no database connection crosses the fork.
"""

from __future__ import annotations

import logging

from rq import Worker as RQWorker

logger = logging.getLogger(__name__)


class Worker(RQWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
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
        return super().work(*args, **kwargs)
