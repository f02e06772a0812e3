"""B1 Ingest and profile: our upload job's work against pandas and ydata-profiling.

    python bench/b1_ingest_profile.py          # real run, updates docs/benchmarks.md
    python bench/b1_ingest_profile.py --smoke  # 2,000 rows, one run, no docs write

Measured, each in a fresh process, on the same fixed-seed CSV (1,000,000 rows x 20
columns, 5% missing, cached under var/bench/):

- ours:   the ingest job's work, projects.services.datasets.dataset_ingest_file:
          from the stored raw file, read_table (with the memory budgets) ->
          write_parquet -> into storage -> profile_table on the table just read
          (the job then writes one database row and deletes the raw file)
- anchor: pandas.read_csv(engine="pyarrow") + DataFrame.to_parquet
- anchor: ydata_profiling.ProfileReport(df, minimal=True).to_json(), profile only
          (runs in .venv-ydata: it needs pandas<3; set YDATA_PYTHON to that python)
- floor:  pyarrow CSV read + one pass of describe / isna().sum() / nunique /
          value_counts

"work" is timed inside the worker after its imports; "process" is the whole fresh
process (interpreter start and imports included); peak RSS is the whole process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    CACHE_DIR,
    Measurement,
    current_rss_bytes,
    fmt_bytes,
    fmt_s,
    generate_table_csv,
    load_results,
    machine_info,
    measurements_from_json,
    measurements_to_json,
    ratio,
    repeat_interleaved,
    save_results,
    verdict,
    versions,
    worker_report,
    write_section,
)

SEED = 42
ROWS = 1_000_000
SMOKE_ROWS = 2_000
YDATA_SINGLE_RUN_OVER_S = 120.0
GOAL_VS_PANDAS = 2.5
GOAL_VS_YDATA = 5.0
GOAL_PEAK_VS_FRAME = 3.0


# --------------------------------------------------------------------------------------
# Workers: each runs in its own fresh process and prints one result line.
# --------------------------------------------------------------------------------------


def work_ours(data: Path, out: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle_app.settings")
    os.environ["MEDIA_ROOT"] = str(out.with_suffix(".media"))
    import django

    django.setup()
    from projects.models import Dataset
    from projects.services.datasets import dataset_ingest_file

    marks: dict[str, float] = {}

    def progress(percent: float, message: str = "") -> None:
        # The job's own progress calls mark where each phase starts.
        if message.startswith("Storing"):
            marks["write"] = time.perf_counter()
        elif percent >= 40:
            marks.setdefault("profile", time.perf_counter())

    base = current_rss_bytes()
    t0 = time.perf_counter()
    _stored, _info, profile, df = dataset_ingest_file(
        dataset=Dataset(project_id=0), path=data, filename="data.csv", progress=progress
    )
    t1 = time.perf_counter()
    del profile
    worker_report(
        work_s=t1 - t0,
        read_s=marks["write"] - t0,
        write_s=marks["profile"] - marks["write"],
        profile_s=t1 - marks["profile"],
        rss_after_imports=base,
        frame_bytes=int(df.memory_usage(deep=True).sum()),
        shape=list(df.shape),
    )


def work_pandas(data: Path, out: Path) -> None:
    import pandas as pd

    base = current_rss_bytes()
    t0 = time.perf_counter()
    df = pd.read_csv(data, engine="pyarrow")
    t1 = time.perf_counter()
    df.to_parquet(out)
    t2 = time.perf_counter()
    worker_report(
        work_s=t2 - t0,
        read_s=t1 - t0,
        write_s=t2 - t1,
        rss_after_imports=base,
        frame_bytes=int(df.memory_usage(deep=True).sum()),
        shape=list(df.shape),
    )


def work_ydata(data: Path, out: Path) -> None:
    import warnings

    warnings.filterwarnings("ignore")  # its deprecation notice, numba chatter
    import pandas as pd
    from ydata_profiling import ProfileReport

    df = pd.read_csv(data, engine="pyarrow")
    base = current_rss_bytes()
    t0 = time.perf_counter()
    report = ProfileReport(df, minimal=True, progress_bar=False)
    as_json = report.to_json()
    t1 = time.perf_counter()
    worker_report(
        work_s=t1 - t0,
        rss_after_imports=base,
        frame_bytes=int(df.memory_usage(deep=True).sum()),
        json_chars=len(as_json),
    )


def work_floor(data: Path, out: Path) -> None:
    import pandas  # noqa: F401  (imported before the timer, as in the others)
    import pyarrow.csv as pacsv

    base = current_rss_bytes()
    t0 = time.perf_counter()
    df = pacsv.read_csv(data).to_pandas()
    t1 = time.perf_counter()
    df.describe()
    df.isna().sum()
    df.nunique()
    for name in df.columns:
        if df[name].dtype.kind not in "biufcmM":
            df[name].value_counts()
    t2 = time.perf_counter()
    worker_report(
        work_s=t2 - t0,
        read_s=t1 - t0,
        rss_after_imports=base,
        frame_bytes=int(df.memory_usage(deep=True).sum()),
    )


WORKERS = {
    "ours": work_ours,
    "pandas": work_pandas,
    "ydata": work_ydata,
    "floor": work_floor,
}


# --------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------


def ydata_python() -> str | None:
    candidate = os.environ.get("YDATA_PYTHON") or str(ROOT / ".venv-ydata/bin/python")
    return candidate if Path(candidate).exists() else None


def run_all(args: argparse.Namespace) -> dict[str, Measurement]:
    rows = SMOKE_ROWS if args.smoke else args.rows
    runs = 1 if args.smoke else args.runs
    warmup = not args.smoke
    workdir = Path(args.workdir) if args.workdir else CACHE_DIR
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"b1_{rows}x20_seed{SEED}.csv"
    t0 = time.perf_counter()
    generate_table_csv(data, rows=rows, seed=SEED)
    print(f"B1: data {data} ({data.stat().st_size / 2**20:,.1f} MiB)", flush=True)
    if time.perf_counter() - t0 > 1:
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)

    script = str(Path(__file__).resolve())

    def argv(name: str, python: str) -> list[str]:
        out = workdir / f"b1_{name}_out.parquet"
        return [python, script, "--worker", name, str(data), str(out)]

    # ours, the pandas anchor and the floor take turns (round-robin), so that load
    # from elsewhere falls on all three alike; ydata-profiling runs after them.
    plan = [
        (name, argv(name, sys.executable), None) for name in WORKERS if name != "ydata"
    ]
    results = repeat_interleaved(plan, runs=runs, warmup=warmup)
    ydata = None if args.no_ydata else ydata_python()
    if ydata:
        results |= repeat_interleaved(
            [("ydata", argv("ydata", ydata), YDATA_SINGLE_RUN_OVER_S)],
            runs=runs,
            warmup=warmup,
        )
    else:
        print("  ydata: skipped (no .venv-ydata; `make bench` creates it)", flush=True)
    for name in WORKERS:
        (workdir / f"b1_{name}_out.parquet").unlink(missing_ok=True)
    shutil.rmtree(workdir / "b1_ours_out.media", ignore_errors=True)
    args.data_path = data
    return results


def collect(results: dict[str, Measurement], args: argparse.Namespace) -> dict:
    """Everything the section says, as the results file keeps it."""
    ydata = ydata_python() if "ydata" in results else None
    return {
        "benchmark": "b1",
        "machine": machine_info(),
        "libs": versions(["pandas", "numpy", "pyarrow", "scikit-learn"]),
        "ydata_libs": (
            versions(["ydata-profiling", "pandas", "numpy"], python=ydata)
            if ydata
            else None
        ),
        "data_bytes": args.data_path.stat().st_size,
        "rows": args.rows,
        "runs": args.runs,
        "smoke": bool(args.smoke),
        "measurements": measurements_to_json(results),
    }


def render(record: dict) -> str:
    results = measurements_from_json(record["measurements"])
    ours, pandas_, floor = results["ours"], results["pandas"], results["floor"]
    ydata = results.get("ydata")
    frame = pandas_.extra("frame_bytes")
    info, libs, ylibs = record["machine"], record["libs"], record["ydata_libs"]
    rows, cols = ours.extra("shape") or (record["rows"], 20)

    lines = [
        "## B1 Ingest and profile",
        "",
        f"Data: {rows:,} rows x {cols} columns (12 numeric, 5 categorical with "
        "5/12/50/200/500 levels, 1 datetime, 1 free text, 1 id), 5% missing, "
        f"CSV of {record['data_bytes'] / 2**20:,.0f} MiB generated with seed {SEED} "
        "by `bench/common.py`. In-memory frame (pandas `memory_usage(deep=True)` "
        f"after `read_csv`): {fmt_bytes(frame)}.",
        "",
        f"Machine: {info['cores']} cores, {info['memory']}, {info['cpu']}; "
        f"{info['os']}; Python {info['python']}. Commit: {info['commit']}. "
        f"Run: {info['date']}; load average at the end (1/5/15 min): {info['load']} "
        "(the machine is shared: *work min-max* shows the run-to-run noise).",
        "",
        "Results file: `bench/results/b1.json` (this section is rendered from it: "
        "`python bench/b1_ingest_profile.py --render`).",
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in libs.items())
        + (
            "; anchor venv (.venv-ydata): "
            + ", ".join(f"{k} {v}" for k, v in ylibs.items())
            if ydata
            else ""
        )
        + ".",
        "",
        "Each row runs in a fresh process: "
        + (
            "one run (smoke mode). "
            if record["smoke"]
            else "a warm-up run, then the median of "
            f"{record['runs']} runs, taken in turns (ours, pandas, floor, ours, ...). "
        )
        + "*work* is timed inside the process after its imports; "
        "*process* is the whole process (interpreter start and imports included); "
        "*peak RSS* is the whole process's maximum resident set size (`wait4`).",
        "",
        "| what | work (median) | work min-max | process | peak RSS | peak / frame "
        "| vs ours |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows_def = [
        ("**ours**: the ingest job's work (`dataset_ingest_file`: `read_table` "
         "with budgets + `write_parquet` into storage + `profile_table`)", ours),
        ('anchor: `pandas.read_csv(engine="pyarrow")` + `to_parquet`', pandas_),
    ]  # fmt: skip
    if ydata:
        rows_def.append(
            ("anchor: ydata-profiling `ProfileReport(minimal=True).to_json()` "
             "(profile only)", ydata)
        )  # fmt: skip
    rows_def.append(
        ("floor: pyarrow read + describe / isna / nunique / value_counts", floor)
    )
    for label, m in rows_def:
        lines.append(
            f"| {label} | {fmt_s(m.work_s)} | {m.work_spread} | {fmt_s(m.wall_s)} | "
            f"{fmt_bytes(m.peak_rss_bytes)} | {ratio(m.peak_rss_bytes, frame):.1f}x | "
            f"{ratio(m.work_s, ours.work_s):.2f}x |"
        )
    phases = ", ".join(
        f"{k.removesuffix('_s')} {fmt_s(ours.median_of(k))}"
        for k in ("read_s", "write_s", "profile_s")
    )
    above = ours.peak_rss_bytes - ours.import_rss_bytes
    ingest = sum(ours.median_of(k) for k in ("read_s", "write_s"))
    lines += [
        "",
        f"Ours by phase (medians): {phases}. Memory after imports, before any work: "
        f"ours {fmt_bytes(ours.import_rss_bytes)}, pandas anchor "
        f"{fmt_bytes(pandas_.import_rss_bytes)}; ours' peak above that: "
        f"{fmt_bytes(above)} ({ratio(above, frame):.1f}x the frame). Without the "
        f"profile, ours' ingest (read + write, with the frame built) takes "
        f"{fmt_s(ingest)}, "
        f"{ratio(ingest, pandas_.work_s):.2f}x the pandas anchor.",
        "",
        "| goal | measured | |",
        "| --- | ---: | --- |",
    ]
    vs_pandas = ratio(ours.work_s, pandas_.work_s)
    lines.append(
        f"| ours <= {GOAL_VS_PANDAS}x pandas read + write | {vs_pandas:.2f}x | "
        f"{verdict(vs_pandas <= GOAL_VS_PANDAS)} |"
    )
    if ydata:
        vs_ydata = ratio(ydata.work_s, ours.work_s)
        lines.append(
            f"| ours >= {GOAL_VS_YDATA:.0f}x faster than ydata-profiling minimal | "
            f"{vs_ydata:.1f}x faster | {verdict(vs_ydata >= GOAL_VS_YDATA)} |"
        )
    else:
        lines.append("| ours >= 5x faster than ydata-profiling minimal | not run | |")
    peak = ratio(ours.peak_rss_bytes, frame)
    lines.append(
        f"| ours' peak memory <= {GOAL_PEAK_VS_FRAME:.0f}x the in-memory frame "
        f"(whole process) | {peak:.1f}x | {verdict(peak <= GOAL_PEAK_VS_FRAME)} |"
    )
    peak_work = ratio(above, frame)
    lines.append(
        f"| the same, counting only memory above the imports | {peak_work:.1f}x | "
        f"{verdict(peak_work <= GOAL_PEAK_VS_FRAME)} |"
    )
    lines += ["", f"Ours / floor: {ratio(ours.work_s, floor.work_s):.2f}x."]
    notes = [m for m in results.values() if m.note]
    if notes:
        lines.append("")
        lines += [f"Note: {m.name}: {m.note}." for m in notes]
    if ydata:
        lines += [
            "",
            "ydata-profiling 4.18 requires pandas<3, numpy<2.4 and scipy<1.17, so "
            "it runs in its own virtualenv (`.venv-ydata`, locked in "
            "`bench/requirements-ydata.txt`) with pandas 2; it reads the same CSV "
            'with `read_csv(engine="pyarrow")` before the timer starts. (Upstream '
            "has renamed it fg-data-profiling; it still requires pandas<3.)",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2,000 rows, one run")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-ydata", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument(
        "--render",
        action="store_true",
        help="only render docs/benchmarks.md from bench/results/b1.json",
    )
    parser.add_argument("--workdir", help="where data and outputs go (var/bench)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        data, out = (Path(p) for p in args.paths)
        WORKERS[args.worker](data, out)
        return 0

    if args.smoke:
        args.runs = 1
        with tempfile.TemporaryDirectory(prefix="b1-smoke-") as tmp:
            args.workdir = args.workdir or tmp
            results = run_all(args)
            print(render(collect(results, args)))
        return 0

    record = load_results("b1") if args.render else collect(run_all(args), args)
    body = render(record)
    print(body)
    if not args.no_docs:
        if not args.render:
            print(f"B1: results in {save_results('b1', record)}")
        write_section("b1", body)
        print("B1: docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
