"""Ingest bombs through a real `rqworker`: refused cleanly, and the worker lives on."""

from __future__ import annotations

import pytest

from projects.models import Dataset, Job
from projects.services.datasets import dataset_upload
from tests.helpers import write_csv, write_dictionary_bomb_parquet, write_xlsx
from tests.jobs.test_worker_process import status_of, wait_for
from tests.views.support import stored_files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _upload(project, owner, path):
    return dataset_upload(project=project, user=owner, path=path, filename=path.name)


def _ended(job) -> str:
    return wait_for(
        lambda: status_of(job) if status_of(job) not in ("queued", "running") else "",
        timeout=120,
        interval=0.2,
    )


@pytest.mark.parametrize(
    ("bomb", "reason"),
    [
        (
            lambda tmp: write_dictionary_bomb_parquet(tmp / "bomb.parquet"),
            "The file would take 2.8 GB in memory (column 'note' alone repeats its "
            "values to 2.8 GB); the limit is 2.0 GB (DATASET_MAX_BYTES).",
        ),
        (
            lambda tmp: write_xlsx(tmp / "bomb.xlsx", {"A1": "a", "XFD1048576": "b"}),
            "The file would take 256.0 GB in memory (its first sheet spans "
            "1,048,576 rows x 16,384 columns); the limit is 2.0 GB "
            "(DATASET_MAX_BYTES).",
        ),
    ],
    ids=["parquet-dictionary", "excel-far-apart-cells"],
)
def test_it_fails_a_bomb_cleanly_and_serves_the_next_upload(
    project, owner, tmp_path, start_worker, settings, bomb, reason
):
    worker = start_worker()
    path = bomb(tmp_path)
    assert path.stat().st_size < 2 * 1024 * 1024

    bombed, bomb_job = _upload(project, owner, path)
    assert _ended(bomb_job) == "failed"
    bomb_job.refresh_from_db()
    assert bomb_job.error == reason
    assert not Dataset.objects.filter(pk=bombed.pk).exists()
    assert stored_files(settings) == []

    # The same worker process goes on to the next upload.
    dataset, job = _upload(project, owner, write_csv(tmp_path / "churn.csv"))
    assert _ended(job) == "succeeded"
    assert worker.poll() is None
    dataset.refresh_from_db()
    assert (dataset.status, dataset.version, dataset.n_rows) == ("ready", 1, 200)
    assert [p.suffix for p in stored_files(settings)] == [".parquet"]
    assert Job.objects.filter(kind="ingest").count() == 2
