"""Production mode: refuses to start half-configured, passes check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import BASE_DIR

PRODUCTION_ENV = {
    "LIFECYCLE_PRODUCTION": "1",
    "SECRET_KEY": "a-long-random-secret-key-for-this-test-only-0123456789abcdefghij",
    "ALLOWED_HOSTS": "lifecycle.example.com",
    "MODEL_SIGNING_KEY": "another-secret-for-model-signatures",
}


def _manage(*args, env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    env.update(env_overrides)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests only
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_check_deploy_with_zero_warnings_in_production():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_it_refuses_to_start_production_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env_overrides=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production mode" in result.stderr


def test_it_refuses_to_seed_demo_logins_in_production():
    result = _manage("seed_demo", env_overrides=PRODUCTION_ENV)
    assert result.returncode != 0
    assert "refuses to run in production mode" in result.stderr


def test_it_refuses_the_development_secret_key_in_production():
    from lifecycle_app.settings import DEV_SECRET_KEY

    result = _manage(
        "check", env_overrides={**PRODUCTION_ENV, "SECRET_KEY": DEV_SECRET_KEY}
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is the development default" in result.stderr


def test_it_refuses_the_development_model_signing_key_in_production():
    from lifecycle_app.settings import DEV_MODEL_SIGNING_KEY

    result = _manage(
        "check",
        env_overrides={**PRODUCTION_ENV, "MODEL_SIGNING_KEY": DEV_MODEL_SIGNING_KEY},
    )
    assert result.returncode != 0
    assert "MODEL_SIGNING_KEY is the development default" in result.stderr


def test_it_answers_400_to_a_host_it_does_not_serve_in_production():
    # R25: a forged Host header never reaches a view (password-reset links and
    # redirects would otherwise point at the attacker's host), on pages and API.
    code = (
        "from django.test import Client\n"
        "c = Client()\n"
        "for path in ('/accounts/login/', '/api/projects'):\n"
        "    r = c.get(path, HTTP_HOST='evil.example', secure=True)\n"
        "    print('ANSWER', path, r.status_code, b'Traceback' in r.content)\n"
    )
    result = _manage("shell", "-c", code, env_overrides=PRODUCTION_ENV)
    answers = [line for line in result.stdout.splitlines() if line[:6] == "ANSWER"]
    assert answers == [
        "ANSWER /accounts/login/ 400 False",
        "ANSWER /api/projects 400 False",
    ], result.stderr[-2000:]


def test_its_processes_tell_pyarrow_to_give_freed_memory_back_at_once():
    # Read by mimalloc when pyarrow loads: it must be set before pandas is imported.
    show = (
        "import os, sys; "
        "print(os.environ.get('MIMALLOC_PURGE_DELAY'), 'pyarrow' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    result = subprocess.run(
        [sys.executable, "-c", "import lifecycle_app; " + show],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["0", "False"], result.stderr
    result = _manage("shell", "-c", show, env_overrides={"MIMALLOC_PURGE_DELAY": "25"})
    last_line = result.stdout.strip().splitlines()[-1]  # after the shell's own notes
    assert last_line.split()[0] == "25", result.stderr
