"""A real gunicorn (two worker processes) keeps answering while a new version
goes live: no request fails, and every request that starts after the swap is
answered by the new version (each process reads what is live per request and
loads the new version, verified, before it answers with it). A live version
whose file changed in storage after its approval is refused by each process,
audited, and the previous version keeps answering."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from projects.models import AuditEvent
from projects.services.keys import deployment_key_create
from tests.conftest import BASE_DIR
from tests.deploy_support import make_version, raw_rows
from tests.serving_support import make_live

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(worker_env, tmp_path):
    """gunicorn on a loopback port with 2 worker processes; stopped afterwards."""
    port = _free_port()
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "lifecycle_app.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--no-control-socket",
            "--error-logfile",
            "-",
        ],
        cwd=BASE_DIR,
        env={**worker_env, "LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "gunicorn did not start:\n"
                    + (tmp_path / "gunicorn.log").read_text(errors="replace")
                ) from None
            time.sleep(0.2)
    yield port
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    log.close()


def _predict(port: int, path: str, secret: str, body: bytes) -> tuple[int, dict]:
    """One request on a new connection (so both worker processes get some)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Authorization": f"Bearer {secret}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            return response.status, {"error": data.decode(errors="replace")[:500]}
        return response.status, json.loads(data)
    except OSError as exc:
        return 0, {"error": repr(exc)}
    finally:
        connection.close()


def _under_load(port: int, path: str, secret: str, action):
    """Two clients predict in a loop; ``action`` runs once 20 answers came back;
    the load goes on until 30 requests started after it. Returns the answers
    (started, ended, status, body) and when the action returned."""
    body = json.dumps({"records": raw_rows(3)}).encode()
    answers: list[tuple[float, float, int, dict]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            started = time.monotonic()
            status, payload = _predict(port, path, secret, body)
            answers.append((started, time.monotonic(), status, payload))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 120
        while sum(1 for a in answers if a[2] == 200) < 20:
            assert time.monotonic() < deadline, answers[-3:]
            assert not any(a[2] != 200 for a in answers), answers[-3:]
            time.sleep(0.05)
        action()
        done_at = time.monotonic()
        deadline = time.monotonic() + 120
        while sum(1 for a in answers if a[0] > done_at) < 30:
            assert time.monotonic() < deadline, answers[-3:]
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return answers, done_at


def test_it_swaps_the_live_version_without_a_failed_request(project, owner, gunicorn):
    old = make_live(make_version(project, owner), owner)
    new_version = make_version(project, owner, C=0.01)
    _key, secret = deployment_key_create(deployment=old, user=owner, name="swap")
    path = f"/deployments/{old.endpoint.slug}/predict"

    # As the approval does it: old -> replaced, new -> live, one transaction.
    answers, swapped_at = _under_load(
        gunicorn, path, secret, lambda: make_live(new_version, owner)
    )

    failed = [(status, payload) for _s, _e, status, payload in answers if status != 200]
    assert failed == []
    before = [a[3]["model_version"] for a in answers if a[1] < swapped_at]
    after = [a[3]["model_version"] for a in answers if a[0] > swapped_at]
    assert set(before) == {1}
    assert set(after) == {2}
    assert all(len(a[3]["predictions"]) == 3 for a in answers)


def test_a_tampered_version_is_refused_and_the_previous_keeps_serving(
    project, owner, gunicorn
):
    old = make_live(make_version(project, owner), owner)
    bad = make_version(project, owner, C=0.01)
    # Approval checks the file, so it goes live intact; then the file changes in
    # storage, before any process has loaded it.
    make_live(bad, owner)
    path = default_storage.path(bad.artifact.name)
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(data))
    _key, secret = deployment_key_create(deployment=old, user=owner, name="swap")

    answers, _at = _under_load(
        gunicorn,
        f"/deployments/{old.endpoint.slug}/predict",
        secret,
        lambda: None,
    )

    assert [a[2] for a in answers if a[2] != 200] == []
    assert {a[3]["model_version"] for a in answers} == {1}
    # Once per process that tried it (two workers; one may not have been asked).
    refusals = AuditEvent.objects.filter(verb="model_version.load_refused")
    assert 1 <= refusals.count() <= 2
    assert {e.data["reason"] for e in refusals} == {"tampered"}
