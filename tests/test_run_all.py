"""bin/run-all (`make run`): it listens on loopback, restarts a child that died
instead of stopping everything, and stops its private Redis when it ends."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within {timeout} s")


def _children(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().decode()
    return found


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def test_it_restarts_a_child_that_died_and_stops_cleanly(tmp_path):
    web_port, redis_port = _free_port(), _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "HOST")
    }
    env.update(
        LIFECYCLE_VAR_DIR=str(tmp_path / "var"),
        PORT=str(web_port),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        REDISCTL_SHARED_DIR=str(tmp_path / "shared"),
        WORKERS="1",
        STOP_GRACE="5",
    )
    log_path = tmp_path / "run-all.log"
    with open(log_path, "wb") as log:
        run = subprocess.Popen(
            ["bin/run-all"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    text = lambda: log_path.read_text(errors="replace")  # noqa: E731
    try:
        _wait_for(lambda: "Lifecycle is running" in text(), 240, "the banner")
        assert f"running at http://127.0.0.1:{web_port}/" in text()
        assert "Listening on this machine only (HOST=127.0.0.1)" in text()
        assert "they work only while HOST is loopback" in text()

        reconciler = next(
            pid for pid, cmd in _children(run.pid).items() if "reconcile_jobs" in cmd
        )
        os.kill(reconciler, signal.SIGKILL)
        _wait_for(lambda: "reconciler restarted" in text(), 60, "the restart")
        assert "run-all: reconciler (pid" in text()
        assert "restarting it in 1s (1 in the last minute)" in text()
        assert any("reconcile_jobs" in cmd for cmd in _children(run.pid).values())
        assert run.poll() is None
        # The web server never stopped; it answers on loopback.
        page = urllib.request.urlopen(
            f"http://127.0.0.1:{web_port}/accounts/login/", timeout=30
        )
        assert page.status == 200

        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=90) == 0
        assert "run-all: stopped" in text()
        assert not _ping(redis_port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        subprocess.run(
            ["python3", "bin/redisctl.py", "stop", f"redis://127.0.0.1:{redis_port}/0"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
        )
