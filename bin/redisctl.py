#!/usr/bin/env python3
"""Start, check and stop the project's PRIVATE Redis server.

Used by the Makefile (``make redis``, ``make run``, ``make test``). Standard library
only, so it works before the virtualenv exists.

    bin/redisctl.py ping   URL            exit 0 if something answers PING at URL
    bin/redisctl.py ensure URL [--user PID]
                                 use what answers at URL, or start a private
                                 redis-server on URL's port; prints "existing"
                                 or "started" on stdout (messages go to stderr)
    bin/redisctl.py stop   URL [--user PID]
                                 stop the private redis-server on URL's port, if
                                 this script started one and nobody else uses it
    bin/redisctl.py stop-all     stop every private redis-server with a pidfile
                                 in var/redis that nobody uses (`make clean`)

Ownership is reference counted across clones: `ensure --user PID` records PID
(the caller, e.g. bin/run-all's or bin/test-all's shell) as a user of the port's
server in $TMPDIR/lifecycle-redis/PORT/users/, whether it started the server or
found it; `stop` drops its caller and stops the server only when no live user is
left. So a `make test` that started the server cannot stop it under a `make run`
that found it, and the other way round. `make run` and `make test` also use
different ports by default (6390 and 6391).

The private server keeps nothing on disk (--save "" --appendonly no), listens on
127.0.0.1 only, and never touches a system Redis on another port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / "var" / "redis"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def log(msg: str) -> None:
    print(f"redisctl: {msg}", file=sys.stderr, flush=True)


def parse(url: str) -> tuple[str, int, str | None, str | None]:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", ""):
        sys.exit(f"redisctl: only redis:// URLs are supported, got {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 6379
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return host, port, user, password


def _command(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        raw = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def ping(url: str, timeout: float = 1.0) -> bool:
    host, port, user, password = parse(url)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            if password:
                auth = ("AUTH", user, password) if user else ("AUTH", password)
                sock.sendall(_command(*auth))
                if not sock.recv(512).startswith(b"+OK"):
                    return False
            sock.sendall(_command("PING"))
            return sock.recv(512).startswith(b"+PONG")
    except OSError:
        return False


def pidfile(port: int) -> Path:
    return RUN_DIR / f"redis-{port}.pid"


def shared_dir(port: int) -> Path:
    """Machine-wide (every clone sees it): who uses the port's private server."""
    base = os.environ.get("REDISCTL_SHARED_DIR") or tempfile.gettempdir()
    return Path(base) / "lifecycle-redis" / str(port)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def add_user(port: int, user: int) -> None:
    users = shared_dir(port) / "users"
    users.mkdir(parents=True, exist_ok=True)
    (users / str(user)).touch()


def live_users(port: int, drop: int | None = None) -> list[int]:
    """The users of the port's server still running; forgets the others."""
    users = shared_dir(port) / "users"
    alive = []
    for path in users.glob("*") if users.is_dir() else []:
        pid = int(path.name) if path.name.isdigit() else 0
        if pid == drop or pid <= 0 or not _alive(pid):
            path.unlink(missing_ok=True)
        else:
            alive.append(pid)
    return sorted(alive)


def _read_pid(port: int, path: Path | None = None) -> int | None:
    try:
        pid = int((path or pidfile(port)).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    # Never signal a recycled pid that is not our redis-server.
    if b"redis-server" not in cmdline or f":{port}".encode() not in cmdline:
        return None
    return pid


def install_redis_server() -> str:
    log("redis-server is missing: installing Debian's redis-server package")
    if subprocess.run([str(ROOT / "bin" / "apt-install"), "redis-server"]).returncode:
        sys.exit("redisctl: could not install redis-server (or set REDIS_URL)")
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(path):
        sys.exit("redisctl: redis-server still missing after apt-get install")
    return path


def ensure(url: str, user: int | None = None) -> str:
    host, port, _, password = parse(url)
    if user is not None and host in LOCAL_HOSTS:
        add_user(port, user)
    if ping(url):
        log(f"using the Redis that answers at {url}")
        return "existing"
    if host not in LOCAL_HOSTS:
        sys.exit(f"redisctl: nothing answers at {url}, not local: not starting")
    if password:
        sys.exit(
            f"redisctl: nothing answers at {url}; private servers have no password"
        )
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        pass
    else:
        sys.exit(f"redisctl: port {port} is taken by something that is not Redis")
    binary = shutil.which("redis-server") or install_redis_server()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    logfile = RUN_DIR / f"redis-{port}.log"
    log(f"starting a private redis-server on 127.0.0.1:{port} (log: {logfile})")
    subprocess.run(
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(RUN_DIR),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "yes",
            "--pidfile", str(pidfile(port)),
            "--logfile", str(logfile),
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if ping(url):
            # Whichever clone is the last user stops it, so say where it is.
            shared_dir(port).mkdir(parents=True, exist_ok=True)
            (shared_dir(port) / "server.pid").write_text(
                pidfile(port).read_text() if pidfile(port).exists() else ""
            )
            # 0: started by hand (`make redis`), stopped only by hand.
            (shared_dir(port) / "starter").write_text(str(user or 0))
            return "started"
        time.sleep(0.1)
    tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
    sys.exit(
        f"redisctl: redis-server on port {port} did not answer PING within 15 s "
        f"(is the port taken by something else?)\n{tail}"
    )


def stop(url: str, user: int | None = None) -> None:
    _, port, _, _ = parse(url)
    others = live_users(port, drop=user)
    if others:
        log(
            f"leaving the redis-server on port {port} running: still used by "
            f"pid {', '.join(map(str, others))}"
        )
        return
    starter = shared_dir(port) / "starter"
    if user is not None and starter.exists() and starter.read_text().strip() == "0":
        log(f"leaving the redis-server on port {port} running: `make redis` started it")
        return
    pid = _read_pid(port)
    if pid is None:
        # A server started by hand as `--pidfile var/redis/redis.pid`.
        pid = _read_pid(port, RUN_DIR / "redis.pid")
    if pid is None:
        # Started by another clone that is gone: its last user stops it.
        pid = _read_pid(port, shared_dir(port) / "server.pid")
    if pid is None:
        log(f"no private redis-server of ours on port {port}")
        return
    log(f"stopping the private redis-server on port {port} (pid {pid})")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)
    pidfile(port).unlink(missing_ok=True)
    (shared_dir(port) / "server.pid").unlink(missing_ok=True)
    starter.unlink(missing_ok=True)


def stop_all() -> None:
    for path in sorted(RUN_DIR.glob("redis*.pid")):
        try:
            pid = int(path.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if "redis-server" not in cmdline:
            continue
        port = cmdline.rsplit(":", 1)[-1].split()[0].strip("\0")
        if port.isdigit():
            stop(f"redis://127.0.0.1:{port}/0")


def main(argv: list[str]) -> int:
    if argv == ["stop-all"]:
        stop_all()
        return 0
    user = None
    if len(argv) == 4 and argv[2] == "--user" and argv[3].isdigit():
        user = int(argv[3])
        argv = argv[:2]
    if len(argv) != 2 or argv[0] not in ("ping", "ensure", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    action, url = argv
    if action == "ping":
        return 0 if ping(url) else 1
    if action == "ensure":
        print(ensure(url, user), flush=True)
        return 0
    stop(url, user)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
