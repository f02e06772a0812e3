"""Redis going away: pages and API reads keep answering, enqueueing answers 503,
and a real rqworker waits for Redis and works again once it is back.

Each test runs a private redis-server of its own (bin/redisctl.py, on a free
port), stops it while a real `manage.py rqworker` runs, and starts it again.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.cache.backends.redis import RedisCache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

import projects.api as api_module
from projects.models import Dataset, Job
from projects.services.datasets import dataset_upload
from projects.services.tokens import token_create
from tests.conftest import BASE_DIR
from tests.helpers import write_csv
from tests.jobs.test_worker_process import status_of, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_redis(settings, worker_env, monkeypatch):
    """A private redis-server for the app, the worker and the rate limits."""
    url = f"redis://127.0.0.1:{_free_port()}/0"

    def ctl(action: str) -> None:
        subprocess.run(
            [sys.executable, "bin/redisctl.py", action, url],
            cwd=BASE_DIR,
            check=True,
            capture_output=True,
            timeout=30,
        )

    ctl("ensure")
    queue_url = f"{url}?socket_connect_timeout=2&socket_timeout=10"
    settings.RQ_QUEUES = {
        name: {"URL": queue_url, "DEFAULT_TIMEOUT": 600}
        for name in ("default", "training")
    }
    worker_env["REDIS_URL"] = url
    cache = RedisCache(url, {"OPTIONS": {"socket_connect_timeout": 1}})
    for throttle in (api_module.TokenRateThrottle, api_module.AddressRateThrottle):
        monkeypatch.setattr(throttle, "cache", cache)
    yield SimpleNamespace(
        url=url, stop=lambda: ctl("stop"), start=lambda: ctl("ensure")
    )
    ctl("stop")


def _log(worker) -> str:
    return Path(worker.log_path).read_text(errors="replace")


def _upload(client: Client, project, tmp_path, name: str):
    content = write_csv(tmp_path / name).read_bytes()
    return client.post(
        f"/api/projects/{project.pk}/datasets",
        {"file": SimpleUploadedFile(name, content)},
    )


def test_it_keeps_pages_and_reads_up_and_the_worker_alive_while_redis_is_down(
    private_redis, start_worker, project, owner, tmp_path
):
    worker = start_worker()
    dataset, job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "first.csv"),
        filename="first.csv",
    )
    wait_for(lambda: status_of(job) == "succeeded", timeout=90, interval=0.2)

    private_redis.stop()
    wait_for(lambda: "Redis" in _log(worker), timeout=60, interval=0.2)

    browser = Client()
    browser.force_login(owner)
    page = browser.get(f"/projects/{project.slug}/steps/data/")
    assert page.status_code == 200
    assert "first.csv" in page.content.decode()

    _token, raw = token_create(user=owner, name="outage")
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    read = api.get(f"/api/datasets/{dataset.pk}")
    assert read.status_code == 200
    assert read.json()["id"] == dataset.pk
    health = api.get("/api/health")
    assert health.status_code == 200
    assert health.json()["queue"] == "unavailable"

    refused = _upload(api, project, tmp_path, "second.csv")
    assert refused.status_code == 503
    assert refused.json()["message"].startswith("The job queue is unavailable")
    assert Dataset.objects.count() == 1

    assert worker.poll() is None, _log(worker)
    private_redis.start()

    accepted = _upload(api, project, tmp_path, "third.csv")
    assert accepted.status_code == 202, accepted.content
    new_job = Job.objects.exclude(pk=job.pk).get()
    wait_for(lambda: status_of(new_job) == "succeeded", timeout=120, interval=0.2)
    assert worker.poll() is None


def test_it_starts_a_worker_while_redis_is_down_and_works_once_it_is_back(
    private_redis, start_worker, project, owner, tmp_path
):
    private_redis.stop()
    worker = start_worker()
    wait_for(lambda: "Redis does not answer" in _log(worker), timeout=60, interval=0.2)
    assert worker.poll() is None, _log(worker)

    private_redis.start()
    _dataset, job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "late.csv"),
        filename="late.csv",
    )
    wait_for(lambda: status_of(job) == "succeeded", timeout=120, interval=0.2)
    assert worker.poll() is None


def test_it_keeps_a_worker_that_lost_redis_in_the_middle_of_a_job(
    private_redis, start_worker
):
    """RQ's own loop quits when Redis goes away outside its wait for a job (here:
    the bookkeeping after a job); our Worker waits and starts over."""
    from redis import Redis
    from rq import Queue

    def queue() -> Queue:
        return Queue("default", connection=Redis.from_url(private_redis.url))

    worker = start_worker()
    started = queue().enqueue("time.sleep", 4)
    wait_for(lambda: started.get_status() == "started", timeout=90, interval=0.1)
    private_redis.stop()
    wait_for(lambda: "Redis does not answer" in _log(worker), timeout=60, interval=0.2)
    assert worker.poll() is None, _log(worker)

    private_redis.start()
    wait_for(
        lambda: "Redis answers again, back to work" in _log(worker),
        timeout=90,
        interval=0.2,
    )
    job = queue().enqueue("builtins.len", [1, 2, 3])
    wait_for(lambda: job.get_status() == "finished", timeout=90, interval=0.2)
    assert job.return_value() == 3
    assert worker.poll() is None
