"""Shared helpers for the benchmarks in bench/ (see /docs/benchmarks.md).

Standard library only at import time: the same module is imported by workers that
run in other virtualenvs (ydata-profiling lives in .venv-ydata with its own pandas).

- ``generate_table_csv``: the fixed-seed synthetic table, cached under var/bench/.
- ``measure``: run one worker in a fresh process, wall time and peak RSS of that
  process (``os.wait4``: the child's own rusage, not a running max over children).
- ``repeat`` / ``repeat_interleaved``: a warm-up run, then N runs (round-robin
  across the compared commands); reports use the median.
- ``machine_info``: cores, memory, CPU, Python, library versions, git commit.
- ``write_section``: replace this benchmark's own section of docs/benchmarks.md.
- ``worker_report``: what a worker prints as its last stdout line.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "var" / "bench"
DOCS_FILE = ROOT / "docs" / "benchmarks.md"
RESULTS_DIR = ROOT / "bench" / "results"
RESULT_PREFIX = "BENCH-RESULT "

# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

N_NUMERIC = 12
CATEGORY_LEVELS = (5, 12, 50, 200, 500)
MISSING_RATE = 0.05
_WORDS_TEXT = (
    "alpha beta gamma delta data model train test split score metric drift label "
    "feature column row value sample noise signal batch stream river lake mountain "
    "valley forest desert ocean island bridge tower castle garden market harbour "
    "engine sensor signal reading error warning info debug customer order invoice "
    "payment refund shipping delivery late early fast slow high low red green blue"
)
WORDS = tuple(_WORDS_TEXT.split())


def generate_table_csv(path: Path, *, rows: int, seed: int = 42) -> Path:
    """Write the B1 table (20 columns) as CSV to ``path`` unless it already exists.

    Columns: ``id`` (unique string, never missing), ``num_00``..``num_11`` (mixed
    distributions: normal, log-normal, integer counts, uniform, heavy tails),
    ``cat_0``..``cat_4`` (5, 12, 50, 200 and 500 levels, Zipf-like frequencies),
    ``event_time`` (ISO datetime), ``comment`` (free text, 3-12 words). Every
    column but ``id`` has ``MISSING_RATE`` of its cells empty. Written to a temp
    file first, then renamed, so a cached file is always complete.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def with_missing(values: pa.Array) -> pa.Array:
        mask = pa.array(rng.random(rows) < MISSING_RATE)
        return pc.if_else(mask, pa.nulls(rows, type=values.type), values)

    columns: dict[str, pa.Array] = {
        "id": pa.array([f"C{i:09d}" for i in rng.permutation(rows)]),
    }
    makers = [
        lambda: rng.normal(50, 10, rows).round(3),
        lambda: rng.lognormal(3, 1, rows).round(2),
        lambda: rng.poisson(4, rows).astype("int64"),
        lambda: rng.uniform(-1, 1, rows).round(5),
        lambda: rng.standard_t(3, rows).round(4),
        lambda: rng.integers(18, 90, rows).astype("int64"),
        lambda: rng.exponential(100, rows).round(1),
        lambda: rng.normal(0, 1, rows).round(6),
        lambda: rng.integers(0, 2, rows).astype("int64"),
        lambda: rng.gamma(2, 2000, rows).round(2),
        lambda: rng.normal(1e6, 2e5, rows).round(0),
        lambda: rng.beta(2, 5, rows).round(4),
    ]
    assert len(makers) == N_NUMERIC
    for i, make in enumerate(makers):
        columns[f"num_{i:02d}"] = with_missing(pa.array(make()))
    for i, levels in enumerate(CATEGORY_LEVELS):
        weights = 1.0 / np.arange(1, levels + 1) ** 0.8
        codes = rng.choice(levels, size=rows, p=weights / weights.sum())
        names = np.array([f"c{i}_level_{j:03d}" for j in range(levels)], dtype=object)
        columns[f"cat_{i}"] = with_missing(pa.array(names[codes]))
    start = np.datetime64("2020-01-01T00:00:00", "s").astype("int64")
    stop = np.datetime64("2026-01-01T00:00:00", "s").astype("int64")
    seconds = rng.integers(start, stop, rows).astype("datetime64[s]")
    stamps = np.datetime_as_string(seconds, unit="s")
    columns["event_time"] = with_missing(pa.array(np.char.replace(stamps, "T", " ")))
    lengths = rng.integers(3, 13, rows)
    word_ids = rng.integers(0, len(WORDS), (rows, 12))
    words = np.array(WORDS, dtype=object)
    comments = [
        " ".join(words[ids[:n]]) for ids, n in zip(word_ids, lengths, strict=True)
    ]
    columns["comment"] = with_missing(pa.array(comments))

    table = pa.table(columns)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    pacsv.write_csv(table, tmp)
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    peak_rss_bytes: int
    report: dict


@dataclass
class Measurement:
    name: str
    runs: list[Run] = field(default_factory=list)
    warmup: Run | None = None
    note: str = ""

    def _median(self, key) -> float:
        return statistics.median(key(r) for r in self.runs)

    @property
    def work_s(self) -> float:
        return self._median(lambda r: r.report["work_s"])

    @property
    def wall_s(self) -> float:
        return self._median(lambda r: r.wall_s)

    @property
    def peak_rss_bytes(self) -> float:
        return self._median(lambda r: r.peak_rss_bytes)

    @property
    def import_rss_bytes(self) -> float:
        return self._median(lambda r: r.report.get("rss_after_imports", 0))

    def extra(self, key: str):
        return self.runs[-1].report.get(key)

    def median_of(self, key: str) -> float:
        """Median of one value the worker reported (e.g. a phase's seconds)."""
        return self._median(lambda r: r.report[key])

    @property
    def work_spread(self) -> str:
        works = [r.report["work_s"] for r in self.runs]
        return f"{min(works):.2f}-{max(works):.2f} s"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def measure(argv: Sequence[str], *, env: dict | None = None, cwd: Path = ROOT) -> Run:
    """Run ``argv`` in a fresh process; return wall time, peak RSS and its report.

    The worker must print ``RESULT_PREFIX + json`` as a line on stdout (see
    ``worker_report``). Peak RSS comes from ``os.wait4``, i.e. this child only.
    """
    # Output goes to temp files (no pipe to fill up and block the child); the child
    # is reaped with wait4 to get its own rusage.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=err,
            text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(
            f"benchmark worker failed ({proc.returncode}): {' '.join(argv)}\n"
            f"{stderr[-4000:]}"
        )
    lines = [x for x in stdout.splitlines() if x.startswith(RESULT_PREFIX)]
    if not lines:
        raise RuntimeError(f"worker printed no result line: {' '.join(argv)}\n{stdout}")
    report = json.loads(lines[-1][len(RESULT_PREFIX) :])
    # ru_maxrss is in KiB on Linux.
    return Run(wall_s=wall, peak_rss_bytes=usage.ru_maxrss * 1024, report=report)


def repeat(
    name: str,
    argv: Sequence[str],
    *,
    runs: int = 5,
    warmup: bool = True,
    single_run_over_s: float | None = None,
    env: dict | None = None,
    log=print,
) -> Measurement:
    """A warm-up run (discarded), then ``runs`` measured runs in fresh processes."""
    plan = [(name, argv, single_run_over_s)]
    return repeat_interleaved(plan, runs=runs, warmup=warmup, env=env, log=log)[name]


def repeat_interleaved(
    plan: Sequence[tuple[str, Sequence[str], float | None]],
    *,
    runs: int = 5,
    warmup: bool = True,
    env: dict | None = None,
    log=print,
) -> dict[str, Measurement]:
    """Measure several commands side by side: ``(name, argv, single_run_over_s)``.

    Each gets a warm-up run (discarded); then the measured runs go round-robin
    (A B C, A B C, ...), so that load from elsewhere on a shared machine falls on
    all of them alike and their ratios hold. A command whose warm-up took longer
    than its ``single_run_over_s`` keeps the warm-up as its only measured run (the
    measurement's ``note`` says so).
    """
    results = {name: Measurement(name=name) for name, _, _ in plan}
    active: list[tuple[str, Sequence[str]]] = []
    for name, argv, single_run_over_s in plan:
        if warmup:
            first = measure(argv, env=env)
            work = first.report["work_s"]
            log(f"  {name}: warm-up {work:.2f} s")
            if single_run_over_s is not None and work > single_run_over_s:
                results[name].runs.append(first)
                results[name].note = (
                    f"one run only: it took {work:.0f} s "
                    f"(> {single_run_over_s:.0f} s), so it was not repeated"
                )
                continue
            results[name].warmup = first
        active.append((name, argv))
    for i in range(runs):
        for name, argv in active:
            run = measure(argv, env=env)
            log(
                f"  {name}: run {i + 1}/{runs} work {run.report['work_s']:.2f} s, "
                f"peak {run.peak_rss_bytes / 2**20:.0f} MiB"
            )
            results[name].runs.append(run)
    return results


# --------------------------------------------------------------------------------------
# Inside a worker
# --------------------------------------------------------------------------------------


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker_report(**values) -> None:
    """Print the worker's result line (the harness reads the last such line)."""
    print(RESULT_PREFIX + json.dumps(values, default=str), flush=True)


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def git_commit() -> str:
    commit = _git("rev-parse", "--short=12", "HEAD") or "no commit yet"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return commit


def _meminfo_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(packages: Sequence[str], python: str | None = None) -> dict[str, str]:
    """Installed versions of ``packages`` in this interpreter or in ``python``."""
    code = (
        "import json, sys\n"
        "from importlib import metadata\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        out[p] = metadata.version(p)\n"
        "    except metadata.PackageNotFoundError:\n"
        "        out[p] = 'not installed'\n"
        "print(json.dumps(out))\n"
    )
    exe = python or sys.executable
    out = subprocess.run(
        [exe, "-c", code, *packages], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def machine_info() -> dict[str, str]:
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{_meminfo_total() / 2**30:.1f} GiB",
        "cpu": _cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": git_commit(),
        "load": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def machine_loaded(info: dict[str, str]) -> bool:
    """Whether others shared the machine: the 1-minute load average beyond the
    core the benchmark keeps busy itself, plus half the cores."""
    return float(info["load"].split()[0]) > 1 + 0.5 * int(info["cores"])


DOCS_HEADER = """# Benchmarks

Side-by-side measurements of this project against what a user would pick instead,
on the same data, in the same run (rules: BENCHMARKS.md in the steering notes).
Each section is written by its script in `bench/` (`make bench`, or
`make bench NAME=b1`) and replaced whole when it runs again; absolute times on
shared machines drift, the ratios measured side by side are what to compare.
"""


def write_section(name: str, body: str, path: Path = DOCS_FILE) -> None:
    """Replace (or append) the section between this benchmark's markers."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else DOCS_HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail.lstrip("\n")
    else:
        text = text.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def fmt_s(s: float) -> str:
    return f"{s:,.2f} s" if s < 100 else f"{s:,.0f} s"


def django_env(workdir: Path, redis_url: str) -> dict[str, str]:
    """Environment of a benchmark's own Django: throwaway SQLite, media and Redis."""
    return {
        "DJANGO_SETTINGS_MODULE": "lifecycle_app.settings",
        "LIFECYCLE_VAR_DIR": str(workdir / "var"),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def check_redis(url: str, name: str) -> None:
    """Refuse a Redis database that is not empty (another run, or someone's data)."""
    import redis

    conn = redis.Redis.from_url(url)
    conn.ping()
    if conn.dbsize():
        raise SystemExit(
            f"{name}: refusing to run: Redis {url} is not empty (another run, or "
            "someone else's data). Use --redis-url with an unused database index."
        )


# --------------------------------------------------------------------------------------
# Result files: the docs are rendered from these, so a number can be checked
# --------------------------------------------------------------------------------------


def measurements_to_json(results: dict[str, Measurement]) -> dict:
    return {
        name: {
            "note": m.note,
            "warmup": None if m.warmup is None else vars(m.warmup),
            "runs": [vars(r) for r in m.runs],
        }
        for name, m in results.items()
    }


def measurements_from_json(data: dict) -> dict[str, Measurement]:
    return {
        name: Measurement(
            name=name,
            runs=[Run(**r) for r in item["runs"]],
            warmup=Run(**item["warmup"]) if item.get("warmup") else None,
            note=item.get("note", ""),
        )
        for name, item in data.items()
    }


def save_results(name: str, record: dict, folder: Path = RESULTS_DIR) -> Path:
    """Write ``bench/results/<name>.json`` (temp file, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path


def load_results(name: str, folder: Path = RESULTS_DIR) -> dict:
    return json.loads((folder / f"{name}.json").read_text())
