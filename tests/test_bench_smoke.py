"""Benchmarks are not tests; this keeps bench/ from rotting (tiny data, one run)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import BASE_DIR


def test_it_runs_the_ingest_and_profile_benchmark_on_tiny_data(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "bench/b1_ingest_profile.py",
            "--smoke",
            "--no-ydata",
            "--no-docs",
            "--workdir",
            str(tmp_path),
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ours" in result.stdout


def test_it_runs_the_cleaning_recipe_benchmark_on_tiny_data(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "bench/b2_cleaning.py",
            "--smoke",
            "--no-docs",
            "--workdir",
            str(tmp_path),
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ours" in result.stdout
    assert "Same output: **yes**" in result.stdout
