"""B2 Cleaning recipe: our recipe runner and splitter against the same steps in pandas.

    python bench/b2_cleaning.py          # real run, updates docs/benchmarks.md
    python bench/b2_cleaning.py --smoke  # 2,000 rows, one run, no docs write

Data: the B1 table (1,000,000 rows x 20 columns, 5% missing, fixed seed, cached
under var/bench/), converted once to Parquet in the work directory, with a little
fixed-seed dirt so that every step has work to do: 1% of the rows overwritten by
copies of other rows (exact whole-row duplicates) and 2% of each categorical
column's values respelled (upper case, title case, padded with spaces). Empty text
cells (the CSV round trip reads them as "") are made missing again. Both sides
read that Parquet file into the same pandas DataFrame before their timer starts.

The recipe: impute (median on 3 numeric columns, most frequent on a categorical
one), deduplicate whole rows, normalise the 5 categorical columns (trim whitespace,
lower-case), clip outliers (IQR, k=1.5) on 3 numeric columns, then a random
70/15/15 split with a seed.

- ours:   validate_recipe + apply_recipe + validate_split + split_frame (task
          "clustering", no target, so the split is random), what the preparation
          job does
- anchor: the same steps hand-written in idiomatic pandas (fillna with median and
          mode, drop_duplicates, .str.strip().str.lower(), quantile + clip, a numpy
          permutation split)
- check:  one more process runs both on the same data and asserts the cleaned
          frames and the splits are the same; the benchmark fails otherwise
- preview: step 3's preview on the same file, what dataset_preview in
          projects/services/preparation.py does minus Django: validate_recipe,
          the first 5,000 rows read (read_parquet(head=...), the first batch),
          apply_recipe on them and the changed-rows sample (a copy of its
          _changed_rows); the product promise is "well under a second"

"work" is timed inside the worker after its imports and the Parquet read;
"process" is the whole fresh process (interpreter start, imports and read
included); peak RSS is the whole process.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    CACHE_DIR,
    CATEGORY_LEVELS,
    Measurement,
    current_rss_bytes,
    fmt_bytes,
    fmt_s,
    generate_table_csv,
    machine_info,
    measure,
    ratio,
    repeat_interleaved,
    verdict,
    versions,
    worker_report,
    write_section,
)

SEED = 42
ROWS = 1_000_000
SMOKE_ROWS = 2_000
GOAL_VS_PANDAS = 1.3

# The dirt added to the B1 table (bump DATA_VERSION when it changes: the cached
# Parquet file's name carries it).
DATA_VERSION = 2
DUPLICATE_SHARE = 0.01
RESPELL_SHARE = 0.02

MEDIAN_COLUMNS = ("num_00", "num_01", "num_02")
MODE_COLUMN = "cat_1"
CATEGORICAL = tuple(f"cat_{i}" for i in range(len(CATEGORY_LEVELS)))
CLIP_COLUMNS = ("num_01", "num_04", "num_06")
IQR_K = 1.5
SPLIT = {"train": 0.7, "validation": 0.15, "test": 0.15, "seed": SEED}
# Step 3's preview, as projects/services/preparation.py has it (not imported: Django).
PREVIEW_ROWS = 5_000
PREVIEW_SAMPLE_ROWS = 20
SPLIT_COLUMN = "__split__"
PREVIEW_GOAL_S = 0.5  # "well under a second"

# Column kinds as the profile reports them (the recipe is validated against them).
KINDS = {
    "id": "identifier",
    **{f"num_{i:02d}": "numeric" for i in range(12)},
    **{name: "categorical" for name in CATEGORICAL},
    "event_time": "datetime",
    "comment": "text",
}

# Phases of the recipe, to set ours' steps beside the hand-written code's.
PHASES = ("impute", "deduplicate", "normalise", "clip", "split")
PHASE_OF_OP = {
    "impute": "impute",
    "deduplicate": "deduplicate",
    "trim_whitespace": "normalise",
    "unify_case": "normalise",
    "outliers": "clip",
}


def recipe_json() -> dict:
    steps: list[dict] = [
        {"op": "impute", "column": name, "strategy": "median"}
        for name in MEDIAN_COLUMNS
    ]
    steps.append({"op": "impute", "column": MODE_COLUMN, "strategy": "most_frequent"})
    steps.append({"op": "deduplicate"})
    steps.append({"op": "trim_whitespace", "columns": list(CATEGORICAL)})
    steps.append({"op": "unify_case", "columns": list(CATEGORICAL), "case": "lower"})
    steps += [
        {
            "op": "outliers",
            "column": name,
            "method": "iqr",
            "k": IQR_K,
            "action": "clip",
        }
        for name in CLIP_COLUMNS
    ]
    return {"version": 1, "steps": steps}


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def make_parquet(csv: Path, out: Path) -> Path:
    """The B1 CSV plus fixed-seed dirt, stored as the upload path stores a version."""
    if out.exists():
        return out
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from projects.ml.io import read_table, write_parquet

    rng = np.random.default_rng(SEED + 2)  # not the generator's own stream
    table, _info = read_table(csv, filename=csv.name)
    n = table.num_rows
    # The CSV round trip reads the generator's missing text cells as "": make them
    # missing again, as generated (else "most frequent" has nothing to fill).
    for position, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table.column(position)
            empty = pc.equal(column, "")
            table = table.set_column(
                position, field, pc.if_else(empty, pa.scalar(None, field.type), column)
            )
    for name in CATEGORICAL:
        values = table[name].to_numpy(zero_copy_only=False)
        picked = np.flatnonzero(rng.random(n) < RESPELL_SHARE)
        styles = rng.integers(0, 4, picked.size)
        for i, style in zip(picked, styles, strict=True):
            v = values[i]
            if v is not None:
                values[i] = (v.upper(), f" {v}", f"{v}  ", f" {v.title()} ")[style]
        position = table.schema.get_field_index(name)
        table = table.set_column(position, name, pa.array(values, type=pa.string()))
    k = int(n * DUPLICATE_SHARE)
    chosen = rng.choice(n, 2 * k, replace=False)
    take = np.arange(n)
    take[chosen[:k]] = chosen[k:]  # rows overwritten by copies of other rows
    write_parquet(table.take(pa.array(take)), out)
    return out


# --------------------------------------------------------------------------------------
# The two sides (shared by the timed workers and the check worker)
# --------------------------------------------------------------------------------------


def clean_ours(df):
    """Our preparation path; returns (cleaned frame, split codes, timings)."""
    from projects.ml.cleaning import apply_recipe, column_kinds_after, validate_recipe
    from projects.ml.splitting import split_frame, validate_split

    t0 = time.perf_counter()
    recipe = validate_recipe(recipe_json(), columns=KINDS)
    t1 = time.perf_counter()
    cleaned, _fitted, report = apply_recipe(df, recipe)
    t2 = time.perf_counter()
    # As in the preparation job: positions from here on.
    frame = cleaned.reset_index(drop=True)
    spec = validate_split(
        SPLIT,
        frame_columns=column_kinds_after(recipe, KINDS),
        target=None,
        task_type="clustering",
    )
    result = split_frame(frame, spec, target=None, task_type="clustering")
    t3 = time.perf_counter()
    steps = []
    for step, entry in zip(recipe.steps, report, strict=True):
        on = getattr(step, "column", None) or ", ".join(
            getattr(step, "columns", None) or ["whole rows"]
        )
        steps.append(
            {
                "op": step.op,
                "on": on,
                "seconds": entry.get("seconds", 0.0),
                "changed": entry.get("values_changed", 0),
                "removed": entry.get("rows_removed", 0),
            }
        )
    timings = {
        "validate_s": t1 - t0,
        "apply_s": t2 - t1,
        "split_s": t3 - t2,
        "steps": steps,
        "split_method": result.report["method"],
        "split_warnings": [w["code"] for w in result.report["warnings"]],
    }
    return cleaned, result.codes, timings


def clean_pandas(df):
    """The same steps hand-written in pandas; returns (frame, split codes, timings)."""
    import numpy as np

    t0 = time.perf_counter()
    fills = {name: df[name].median() for name in MEDIAN_COLUMNS}
    fills[MODE_COLUMN] = df[MODE_COLUMN].mode().iloc[0]
    df = df.fillna(fills)
    t1 = time.perf_counter()
    df = df.drop_duplicates()
    t2 = time.perf_counter()
    for name in CATEGORICAL:
        df[name] = df[name].str.strip().str.lower()
    t3 = time.perf_counter()
    for name in CLIP_COLUMNS:
        q1, q3 = df[name].quantile([0.25, 0.75])
        iqr = q3 - q1
        df[name] = df[name].clip(q1 - IQR_K * iqr, q3 + IQR_K * iqr)
    t4 = time.perf_counter()
    n = len(df)
    # Held-out parts rounded up, as scikit-learn's train_test_split does.
    n_val = math.ceil(round(SPLIT["validation"] * n, 9))
    n_test = math.ceil(round(SPLIT["test"] * n, 9))
    n_train = n - n_val - n_test
    perm = np.random.default_rng(SPLIT["seed"]).permutation(n)
    codes = np.empty(n, dtype=np.int8)
    codes[perm[:n_train]] = 0
    codes[perm[n_train : n_train + n_val]] = 1
    codes[perm[n_train + n_val :]] = 2
    t5 = time.perf_counter()
    timings = {
        "impute_s": t1 - t0,
        "deduplicate_s": t2 - t1,
        "normalise_s": t3 - t2,
        "clip_s": t4 - t3,
        "split_s": t5 - t4,
    }
    return df, codes, timings


def split_counts(codes) -> list[int]:
    import numpy as np

    return [int(c) for c in np.bincount(codes, minlength=3)]


# --------------------------------------------------------------------------------------
# Workers: each runs in its own fresh process and prints one result line.
# --------------------------------------------------------------------------------------


def work_ours(data: Path) -> None:
    import projects.ml.cleaning
    import projects.ml.splitting  # noqa: F401  (imported before the timer)
    from projects.ml.io import read_parquet

    df = read_parquet(data)
    base = current_rss_bytes()
    t0 = time.perf_counter()
    cleaned, codes, timings = clean_ours(df)
    t1 = time.perf_counter()
    worker_report(
        work_s=t1 - t0,
        rss_after_read=base,
        rows_in=len(df),
        rows_out=len(cleaned),
        counts=split_counts(codes),
        **timings,
    )


def work_pandas(data: Path) -> None:
    import numpy  # noqa: F401  (imported before the timer)
    import pandas as pd

    df = pd.read_parquet(data, engine="pyarrow")
    base = current_rss_bytes()
    t0 = time.perf_counter()
    cleaned, codes, timings = clean_pandas(df)
    t1 = time.perf_counter()
    worker_report(
        work_s=t1 - t0,
        rss_after_read=base,
        rows_in=len(df),
        rows_out=len(cleaned),
        counts=split_counts(codes),
        frame_bytes=int(df.memory_usage(deep=True).sum()),
        **timings,
    )


def work_check(data: Path) -> None:
    """Both sides on the same data in one process; raises unless they agree."""
    import numpy as np
    import pandas as pd

    from projects.ml.io import read_parquet

    ours_in = read_parquet(data)
    theirs_in = pd.read_parquet(data, engine="pyarrow")
    # The two workers read the file each their own way: the same frame either way.
    pd.testing.assert_frame_equal(ours_in, theirs_in, check_exact=True)
    ours, ours_codes, timings = clean_ours(ours_in)
    theirs, theirs_codes, _ = clean_pandas(theirs_in)

    assert list(ours.columns) == list(theirs.columns), (
        f"columns differ: {list(ours.columns)} vs {list(theirs.columns)}"
    )
    assert ours.index.equals(theirs.index), "different rows kept by deduplication"
    dtype_diffs = {
        name: f"{ours[name].dtype} vs {theirs[name].dtype}"
        for name in ours.columns
        if ours[name].dtype != theirs[name].dtype
    }
    a, b = ours.reset_index(drop=True), theirs.reset_index(drop=True)
    try:
        pd.testing.assert_frame_equal(
            a, b, check_exact=True, check_dtype=not dtype_diffs
        )
        exact = True
    except AssertionError:
        # Not bit-identical (e.g. a quantile rounded differently): the values must
        # still agree to 1e-9 relative, or this raises.
        pd.testing.assert_frame_equal(
            a, b, check_exact=False, rtol=1e-9, atol=0, check_dtype=not dtype_diffs
        )
        exact = False
    ours_counts, theirs_counts = split_counts(ours_codes), split_counts(theirs_codes)
    assert ours_counts == theirs_counts, (
        f"split counts differ: {ours_counts} vs {theirs_counts}"
    )
    same_rows_per_split = bool(np.array_equal(ours_codes, theirs_codes))
    worker_report(
        same_output=True,
        exact=exact,
        dtype_diffs=dtype_diffs,
        rows_in=len(ours_in),
        rows_out=len(ours),
        columns=len(ours.columns),
        counts=ours_counts,
        same_rows_per_split=same_rows_per_split,
        steps=timings["steps"],
        split_method=timings["split_method"],
        split_warnings=timings["split_warnings"],
        frame_bytes=int(ours_in.memory_usage(deep=True).sum()),
    )


def changed_rows(before, after, limit: int = PREVIEW_SAMPLE_ROWS) -> dict:
    """The preview's sample: a copy of ``_changed_rows`` in
    projects/services/preparation.py (that module imports Django); keep them alike."""
    import numpy as np
    import pandas as pd

    common = [c for c in after.columns if c in before.columns]
    old = before.loc[after.index, common].astype("str")
    new = after[common].astype("str")
    changed = (old != new).to_numpy()
    added = [c for c in after.columns if c not in before.columns]
    # Stable: rows with a change first, each group in its original order.
    rows = np.argsort(~changed.any(axis=1), kind="stable")[:limit]
    columns = common + added
    shown = after.iloc[rows][columns]
    return {
        "columns": columns,
        "added": added,
        "rows": [
            [None if pd.isna(v) else str(v) for v in record]
            for record in shown.itertuples(index=False, name=None)
        ],
        "changed": [[bool(x) for x in changed[i]] + [True] * len(added) for i in rows],
        "row_numbers": [int(after.index[i]) + 1 for i in rows],
    }


def work_preview(data: Path) -> None:
    """Step 3's preview (``dataset_preview``) minus Django: the recipe checked, the
    first rows read, the recipe applied to them, the changed-rows sample built."""
    import numpy  # noqa: F401  (imported before the timer)
    import pandas  # noqa: F401

    from projects.ml.cleaning import apply_recipe, validate_recipe
    from projects.ml.io import read_parquet

    t0 = time.perf_counter()
    recipe = validate_recipe(recipe_json(), columns=KINDS)
    t1 = time.perf_counter()
    before = read_parquet(data, head=PREVIEW_ROWS)
    before = before.drop(columns=[SPLIT_COLUMN], errors="ignore")
    t2 = time.perf_counter()
    after, _fitted, report = apply_recipe(before, recipe)
    t3 = time.perf_counter()
    sample = changed_rows(before, after)
    t4 = time.perf_counter()
    worker_report(
        work_s=t4 - t0,
        validate_s=t1 - t0,
        read_s=t2 - t1,
        apply_s=t3 - t2,
        sample_s=t4 - t3,
        rows_in=len(before),
        rows_out=len(after),
        steps=len(report),
        sample_rows=len(sample["rows"]),
        sample_changed=sum(any(row) for row in sample["changed"]),
    )


WORKERS = {
    "ours": work_ours,
    "pandas": work_pandas,
    "check": work_check,
    "preview": work_preview,
}


# --------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------


def run_all(args: argparse.Namespace) -> tuple[dict[str, Measurement], dict]:
    rows = SMOKE_ROWS if args.smoke else args.rows
    runs = 1 if args.smoke else args.runs
    warmup = not args.smoke
    workdir = Path(args.workdir) if args.workdir else CACHE_DIR
    workdir.mkdir(parents=True, exist_ok=True)
    csv = workdir / f"b1_{rows}x20_seed{SEED}.csv"
    data = workdir / f"b2_{rows}x20_seed{SEED}_v{DATA_VERSION}.parquet"
    t0 = time.perf_counter()
    generate_table_csv(csv, rows=rows, seed=SEED)
    make_parquet(csv, data)
    print(f"B2: data {data} ({data.stat().st_size / 2**20:,.1f} MiB)", flush=True)
    if time.perf_counter() - t0 > 1:
        print(f"  prepared in {time.perf_counter() - t0:.1f} s", flush=True)

    script = str(Path(__file__).resolve())

    def argv(name: str) -> list[str]:
        return [sys.executable, script, "--worker", name, str(data)]

    # Same output first: no point timing two things that do not do the same work.
    check = measure(argv("check")).report
    if check.get("same_output") is not True:
        raise SystemExit(f"B2: ours and the pandas anchor differ: {check}")
    how = "bit for bit" if check["exact"] else "to 1e-9 relative"
    print(f"  check: same output ({how}), split counts {check['counts']}", flush=True)

    # ours and the anchor take turns (round-robin), so that load from elsewhere
    # falls on both alike; the preview runs in the same rounds.
    plan = [(name, argv(name), None) for name in ("ours", "pandas", "preview")]
    results = repeat_interleaved(plan, runs=runs, warmup=warmup)
    for m in (results["ours"], results["pandas"]):
        for run in m.runs:
            got = (run.report["rows_out"], run.report["counts"])
            if got != (check["rows_out"], check["counts"]):
                raise SystemExit(
                    f"B2: {m.name} kept {got[0]} rows split {got[1]} in a timed "
                    f"run; the check saw {check['rows_out']} rows split "
                    f"{check['counts']}"
                )
    args.data_path = data
    return results, check


def _step_medians(m: Measurement) -> list[dict]:
    """Ours' recipe steps with each step's median seconds over the runs."""
    first = m.runs[0].report["steps"]
    return [
        {
            **step,
            "seconds": statistics.median(
                r.report["steps"][i]["seconds"] for r in m.runs
            ),
        }
        for i, step in enumerate(first)
    ]


def _fmt_ms(s: float) -> str:
    return f"{s * 1000:,.0f} ms" if s < 10 else fmt_s(s)


def render(
    results: dict[str, Measurement], check: dict, args: argparse.Namespace
) -> str:
    ours, pandas_ = results["ours"], results["pandas"]
    frame = pandas_.extra("frame_bytes")
    info = machine_info()
    libs = versions(["pandas", "numpy", "pyarrow", "pydantic"])
    data = args.data_path
    rows_in, rows_out, cols = check["rows_in"], check["rows_out"], check["columns"]
    steps = _step_medians(ours)
    duplicates = sum(s["removed"] for s in steps if s["op"] == "deduplicate")
    imputed = sum(s["changed"] for s in steps if s["op"] == "impute")
    normalised = sum(s["changed"] for s in steps if PHASE_OF_OP[s["op"]] == "normalise")
    clipped = sum(s["changed"] for s in steps if s["op"] == "outliers")

    lines = [
        "## B2 Cleaning recipe",
        "",
        f"Data: the B1 table ({rows_in:,} rows x {cols} columns: 12 numeric, 5 "
        "categorical with 5/12/50/200/500 levels, 1 datetime, 1 free text, 1 id; 5% "
        f"missing; seed {SEED}) with fixed-seed dirt so that every step has work: "
        f"{DUPLICATE_SHARE:.0%} of the rows overwritten by copies of other rows "
        f"(exact duplicates) and {RESPELL_SHARE:.0%} of each categorical column's "
        "values respelled (upper case, title case, padded with spaces); the empty "
        "text cells, which the CSV round trip reads as empty strings, are missing "
        "(null) again, as generated. Stored as "
        f"Parquet ({data.stat().st_size / 2**20:,.0f} MiB) by the upload path's "
        "`write_parquet`; both sides read it into pandas before their timer starts "
        f"(in memory: {fmt_bytes(frame)}, `memory_usage(deep=True)`).",
        "",
        "Recipe: impute the median of "
        + ", ".join(f"`{c}`" for c in MEDIAN_COLUMNS)
        + f" and the most frequent value of `{MODE_COLUMN}`; remove duplicate rows "
        "(whole rows, keep the first); trim whitespace and lower-case "
        + ", ".join(f"`{c}`" for c in CATEGORICAL)
        + f"; clip outliers (IQR, k={IQR_K:g}) in "
        + ", ".join(f"`{c}`" for c in CLIP_COLUMNS)
        + f"; a random 70/15/15 split with seed {SEED}. It fills {imputed:,} cells, "
        f"removes {duplicates:,} rows, normalises {normalised:,} values and clips "
        f"{clipped:,}, leaving {rows_out:,} rows.",
        "",
        f"Machine: {info['cores']} cores, {info['memory']}, {info['cpu']}; "
        f"{info['os']}; Python {info['python']}. Commit: {info['commit']}. "
        f"Run: {info['date']}; load average at the end (1/5/15 min): {info['load']} "
        "(the machine is shared: *work min-max* shows the run-to-run noise).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in libs.items()) + ".",
        "",
        "Each row runs in a fresh process: "
        + (
            "one run (smoke mode). "
            if args.smoke
            else "a warm-up run, then the median of "
            f"{args.runs} runs, taken in turns (ours, pandas, ours, ...). "
        )
        + "*work* is timed inside the process after its imports and the Parquet "
        "read; *process* is the whole process (interpreter start, imports and the "
        "read included); *peak RSS* is the whole process's maximum resident set "
        "size (`wait4`), *above input* the part of it above the memory held once "
        "the input frame was read.",
        "",
        "| what | work (median) | work min-max | process | peak RSS | above input "
        "| vs anchor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows_def = [
        ("**ours**: `validate_recipe` + `apply_recipe` + `validate_split` + "
         "`split_frame`", ours),
        ("anchor: hand-written pandas (`fillna` median/mode, `drop_duplicates`, "
         "`.str.strip().str.lower()`, `quantile` + `clip`, numpy permutation "
         "split)", pandas_),
    ]  # fmt: skip
    for label, m in rows_def:
        above = m.peak_rss_bytes - m.median_of("rss_after_read")
        lines.append(
            f"| {label} | {fmt_s(m.work_s)} | {m.work_spread} | {fmt_s(m.wall_s)} | "
            f"{fmt_bytes(m.peak_rss_bytes)} | {fmt_bytes(above)} | "
            f"{ratio(m.work_s, pandas_.work_s):.2f}x |"
        )

    # Ours by phase beside the anchor's, medians over the runs.
    ours_phase = dict.fromkeys(PHASES, 0.0)
    for step in steps:
        ours_phase[PHASE_OF_OP[step["op"]]] += step["seconds"]
    ours_phase["split"] = ours.median_of("split_s")
    runner = statistics.median(
        r.report["validate_s"]
        + r.report["apply_s"]
        - sum(s["seconds"] for s in r.report["steps"])
        for r in ours.runs
    )
    lines += [
        "",
        "By phase (medians; ours' steps from `apply_recipe`'s report, `seconds` "
        "per step; split includes `reset_index` and `validate_split`):",
        "",
        "| phase | ours | anchor | ours / anchor |",
        "| --- | ---: | ---: | ---: |",
    ]
    for phase in PHASES:
        theirs = pandas_.median_of(f"{phase}_s")
        lines.append(
            f"| {phase} | {_fmt_ms(ours_phase[phase])} | {_fmt_ms(theirs)} | "
            f"{ratio(ours_phase[phase], theirs):.2f}x |"
        )
    lines.append(
        f"| ours only: `validate_recipe` and the runner around the steps | "
        f"{_fmt_ms(runner)} | | |"
    )
    lines += [
        "",
        "Ours by recipe step (medians):",
        "",
        "| # | step | on | changed | seconds |",
        "| ---: | --- | --- | ---: | ---: |",
    ]
    for i, step in enumerate(steps, 1):
        changed = step["removed"] if step["op"] == "deduplicate" else step["changed"]
        what = " rows removed" if step["op"] == "deduplicate" else ""
        lines.append(
            f"| {i} | {step['op']} | {step['on']} | {changed:,}{what} | "
            f"{step['seconds']:.3f} |"
        )

    preview = results["preview"]
    first = preview.runs[0].report
    lines += [
        "",
        f"Step 3 preview on the same {rows_in:,}-row file: what "
        "`dataset_preview` does without Django (the recipe checked, the first "
        f"{first['rows_in']:,} rows read with `read_parquet(head=...)`, the recipe "
        f"applied to them, the sample of {first['sample_rows']} changed rows built "
        "as `_changed_rows` builds it), timed from the check to the sample in a "
        "fresh process (medians):",
        "",
        "| preview | read head | apply recipe | changed-rows sample | total "
        "| total min-max | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {first['rows_in']:,} rows in, {first['rows_out']:,} out | "
        f"{_fmt_ms(preview.median_of('read_s'))} | "
        f"{_fmt_ms(preview.median_of('apply_s'))} | "
        f"{_fmt_ms(preview.median_of('sample_s'))} | "
        f"**{_fmt_ms(preview.work_s)}** | {preview.work_spread} | "
        f"{fmt_bytes(preview.peak_rss_bytes)} |",
    ]

    exact = (
        "bit for bit"
        if check["exact"]
        else "to 1e-9 relative (not bit for bit: a quantile rounds differently)"
    )
    dtypes = (
        "; dtypes differ in "
        + ", ".join(f"`{k}` ({v})" for k, v in check["dtype_diffs"].items())
        + " (values compared)"
        if check["dtype_diffs"]
        else "; the same dtypes"
    )
    per_split = (
        "the same rows in each split"
        if check["same_rows_per_split"]
        else "the same counts (different rows)"
    )
    counts = "/".join(f"{c:,}" for c in check["counts"])
    lines += [
        "",
        f"Same output: **yes**. A separate process ran both on the same frame: the "
        f"same rows kept (same index), the cleaned frames equal after "
        f"`reset_index` (`pandas.testing.assert_frame_equal`) {exact}{dtypes}; "
        f"split {counts} (train/validation/test), {per_split}. Every timed run "
        "reported the same row and split counts.",
        "",
        "| goal | measured | |",
        "| --- | ---: | --- |",
    ]
    vs = ratio(ours.work_s, pandas_.work_s)
    lines.append(
        f"| ours <= {GOAL_VS_PANDAS}x the hand-written pandas | {vs:.2f}x | "
        f"{verdict(vs <= GOAL_VS_PANDAS)} |"
    )
    lines.append("| same output | yes | met |")
    lines.append(
        '| step 3 preview "well under a second" (read here as <= '
        f"{PREVIEW_GOAL_S:g} s) | "
        f"{_fmt_ms(preview.work_s)} | {verdict(preview.work_s <= PREVIEW_GOAL_S)} |"
    )
    if check["split_warnings"]:
        lines += [
            "",
            "`split_frame` warnings on this data: "
            + ", ".join(f"`{w}`" for w in check["split_warnings"])
            + ".",
        ]
    notes = [m for m in results.values() if m.note]
    if notes:
        lines.append("")
        lines += [f"Note: {m.name}: {m.note}." for m in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2,000 rows, one run")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--workdir", help="where data and outputs go (var/bench)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        (data,) = (Path(p) for p in args.paths)
        WORKERS[args.worker](data)
        return 0

    if args.smoke:
        args.runs = 1
        with tempfile.TemporaryDirectory(prefix="b2-smoke-") as tmp:
            args.workdir = args.workdir or tmp
            results, check = run_all(args)
            print(render(results, check, args))
        return 0

    results, check = run_all(args)
    body = render(results, check, args)
    print(body)
    if not args.no_docs:
        write_section("b2", body)
        print("B2: docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
