"""The RQ worker class every `manage.py rqworker` uses (settings.RQ["WORKER_CLASS"]).

RQ forks a work horse per job. Without this, each horse imports pandas, pyarrow,
scikit-learn and Optuna itself, about 3 s of CPU per job (measured in B3), which
is most of a short tuning trial. Importing them once in the worker, before it
forks, lets every horse start warm. Only modules are imported here: no database
connection is opened before the fork.
"""

from __future__ import annotations

from rq import Worker as RQWorker


class Worker(RQWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from projects import jobs

        jobs.kind_label("")  # imports every job kind's service, ml/ and charts/
