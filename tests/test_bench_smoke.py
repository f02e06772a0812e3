"""Benchmarks are not tests; this keeps bench/ from rotting (tiny data, one run)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import BASE_DIR


def smoke(script: str, *flags: str, workdir, timeout: int = 300) -> str:
    result = subprocess.run(
        [
            sys.executable,
            script,
            "--smoke",
            "--no-docs",
            "--workdir",
            str(workdir),
            *flags,
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_it_runs_the_ingest_and_profile_benchmark_on_tiny_data(tmp_path):
    out = smoke("bench/b1_ingest_profile.py", "--no-ydata", workdir=tmp_path)
    assert "ours" in out


def test_it_runs_the_cleaning_recipe_benchmark_on_tiny_data(tmp_path):
    out = smoke("bench/b2_cleaning.py", workdir=tmp_path)
    assert "ours" in out
    assert "Same output: **yes**" in out


def test_it_runs_the_training_overhead_benchmark_on_tiny_data(tmp_path, settings):
    # A real rqworker on the tests' own Redis database (empty before each test).
    out = smoke(
        "bench/b3_training.py",
        "--redis-url",
        settings.REDIS_URL,
        workdir=tmp_path,
        timeout=600,
    )
    assert "**ours**" in out
    assert "same metrics as the anchor" in out
    assert "| yes (" in out


def test_it_runs_the_dashboards_benchmark_on_tiny_data(tmp_path, settings):
    out = smoke(
        "bench/b4_dashboards.py",
        "--no-mlflow",
        "--redis-url",
        settings.REDIS_URL,
        workdir=tmp_path,
        timeout=600,
    )
    assert "API list, default ordering" in out
    assert "page: compare 4 experiments" in out


def test_it_runs_the_tuning_benchmark_on_tiny_data(tmp_path, settings):
    # Ours' trial jobs run in the test's process (--no-workers: the same run_job a
    # work horse runs); the real benchmark uses two rqworker processes.
    out = smoke(
        "bench/b5_tuning.py",
        "--no-workers",
        "--redis-url",
        settings.REDIS_URL,
        workdir=tmp_path,
        timeout=600,
    )
    assert "**ours, Bayesian**" in out
    assert "Optuna alone" in out
    assert "job machinery < 5% of trial time" in out


def test_it_runs_the_serving_benchmark_on_tiny_data(tmp_path, settings):
    # A real gunicorn (2 workers) on loopback and a separate load process.
    out = smoke(
        "bench/b6_serving.py",
        "--redis-url",
        settings.REDIS_URL,
        workdir=tmp_path,
        timeout=600,
    )
    assert "| predict 1 row, 8 clients |" in out
    assert "rows/s at 1 client" in out
    errors = [line for line in out.splitlines() if line.startswith("| predict")]
    assert all(line.rstrip(" |").endswith("| 0") for line in errors), errors
