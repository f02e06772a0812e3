"""Shared fixtures: real Redis (own DB index, refused when dirty), real workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.conf import settings
from django.db import connection
from redis.exceptions import RedisError
from rq import SimpleWorker

from projects.services.serving import serving_cache_clear
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "pw-for-tests-123"

os.environ.setdefault(
    "DJANGO_ALLOW_ASYNC_UNSAFE", "true"
)  # live_server + sync Playwright


@pytest.fixture(scope="session")
def redis_conn():
    conn = django_rq.get_connection("default")
    try:
        conn.ping()
    except (RedisError, OSError) as exc:
        pytest.exit(
            f"Redis for tests does not answer at {settings.REDIS_URL} ({exc}); "
            "`make test` starts one.",
            returncode=3,
        )
    if conn.dbsize() > 0:
        pytest.exit(
            f"Refusing to run: the Redis test database {settings.REDIS_URL} is not "
            "empty. Point TEST_REDIS_URL at an unused database index.",
            returncode=3,
        )
    yield conn
    conn.flushdb()


@pytest.fixture(scope="session", autouse=True)
def _optuna_connections(django_db_setup):
    """Optuna keeps its own connection pool; close it before the test database is
    dropped (PostgreSQL refuses to drop a database in use)."""
    yield
    from projects.services.tuning import optuna_storages_close

    optuna_storages_close()


@pytest.fixture(autouse=True)
def _media_and_queue(settings, tmp_path, redis_conn):
    """Each test gets its own media folder, an empty queue afterwards, and no
    model this process loaded for another test (ids repeat across tests)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    serving_cache_clear()
    # Hashing a password properly costs ~0.3 s; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield
    serving_cache_clear()
    redis_conn.flushdb()


@pytest.fixture
def run_jobs(redis_conn):
    """Run every queued job to the end in this thread (SimpleWorker, burst mode)."""

    def run() -> None:
        queues = [django_rq.get_queue(name) for name in ("default", "training")]
        SimpleWorker(queues, connection=redis_conn).work(burst=True)

    return run


def database_url_for_subprocess() -> str:
    """DATABASE_URL pointing a child process at the test database."""
    params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{host}:{port}/{params['NAME']}"


@pytest.fixture
def worker_env(settings, django_db_setup):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lifecycle_app.settings",
        "DATABASE_URL": database_url_for_subprocess(),
        "REDIS_URL": settings.REDIS_URL.split("?")[0],
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "JOB_HEARTBEAT_SECONDS": "1",
        "JOB_STALE_SECONDS": "4",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def start_worker(worker_env, tmp_path):
    """Start real `manage.py rqworker` processes; stopped at the end of the test."""
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "default", "training"],
            cwd=BASE_DIR,
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so the work horse it forks dies with it.
            start_new_session=True,
        )
        proc.log_path = log.name
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def owner(db):
    return UserFactory(username="olivia")


@pytest.fixture
def project(owner):
    project = ProjectFactory(created_by=owner)
    MembershipFactory(project=project, user=owner, role="owner")
    return project


@pytest.fixture
def member(project):
    """member("viewer") -> a user with that role in `project`."""

    def make(role: str):
        user = UserFactory(username=f"{role}-user")
        MembershipFactory(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def outsider(db):
    return UserFactory(username="stranger")


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def live(project, owner):
    """A registered version live on the project's staging endpoint."""
    from tests.deploy_support import make_version
    from tests.serving_support import make_live

    return make_live(make_version(project, owner), owner)
