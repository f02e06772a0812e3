"""bin/redisctl.py: a private Redis used by two callers (a `make run` and a
`make test`) is stopped only when the last of them stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.conftest import BASE_DIR


def _ctl(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "bin/redisctl.py", *args],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_it_stops_a_shared_private_redis_only_after_its_last_user(tmp_path):
    env = {**os.environ, "REDISCTL_SHARED_DIR": str(tmp_path)}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    run = subprocess.Popen(["sleep", "300"])  # stands for bin/run-all's shell
    test = subprocess.Popen(["sleep", "300"])  # and for bin/test-all's
    try:
        assert _ctl("ensure", url, "--user", str(test.pid), env=env).stdout == (
            "started\n"
        )
        assert _ctl("ensure", url, "--user", str(run.pid), env=env).stdout == (
            "existing\n"
        )
        # The test run that started it ends: the app still uses it.
        stopped = _ctl("stop", url, "--user", str(test.pid), env=env)
        assert "still used by pid" in stopped.stderr
        assert _ctl("ping", url).returncode == 0
        # The app ends too: now it goes.
        _ctl("stop", url, "--user", str(run.pid), env=env)
        assert _ctl("ping", url).returncode == 1
    finally:
        for proc in (run, test):
            proc.kill()
            proc.wait()
        _ctl("stop", url, env=env)


def test_it_forgets_a_user_that_died_without_stopping(tmp_path):
    env = {**os.environ, "REDISCTL_SHARED_DIR": str(tmp_path)}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    crashed = subprocess.Popen(["sleep", "300"])
    last = subprocess.Popen(["sleep", "300"])
    try:
        _ctl("ensure", url, "--user", str(last.pid), env=env)
        _ctl("ensure", url, "--user", str(crashed.pid), env=env)
        crashed.kill()
        crashed.wait()
        _ctl("stop", url, "--user", str(last.pid), env=env)
        assert _ctl("ping", url).returncode == 1
    finally:
        last.kill()
        last.wait()
        _ctl("stop", url, env=env)
