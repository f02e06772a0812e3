"""Benchmarks are not tests; this keeps bench/ from rotting (tiny data, one run)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import BASE_DIR


def smoke(script: str, *flags: str, workdir) -> str:
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
        timeout=300,
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
