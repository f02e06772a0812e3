"""B6 (first half) Prediction endpoint: latency and throughput of a live deployment.

    python bench/b6_serving.py          # real run: results/b6.json + docs/benchmarks.md
    python bench/b6_serving.py --smoke  # tiny data, 1 s per load, writes nothing
    python bench/b6_serving.py --render # docs/benchmarks.md from bench/results/b6.json

Setup (not timed), in a throwaway SQLite database and MEDIA_ROOT under the work
directory (var/bench/b6/): B3's fixed-seed table (15 numeric columns, 3 with
missing values, 5 categorical; 20 features) fits a pipeline of preprocessing
(median imputation + scaling; one-hot) and HistGradientBoostingClassifier. It is
stored as a registered version stores it (a signed ServingPipeline, its sha256 and
input schema), put live on an endpoint, and given a key.

Served by gunicorn with the flags of `make run` and the Docker image (2 worker
processes, 4 threads each) on loopback. Load comes from a second process: N
client processes, each a keep-alive HTTP connection sending requests back to
back for the duration; latency is measured by the client (request sent to answer
read). Measured: one-row predictions at 1 and 8 clients, 1,000-row batches at 1
client (rows/s), and the floors: ``ServingPipeline.predict`` on one row in
process (no HTTP, no checks) and an empty Django view on the same server (the
same middleware, no database).

Goal (BENCHMARKS.md, B6): one-row p50 <= in-process predict + 2 ms; p99 < 25 ms at
8 clients. The MLflow anchor (`mlflow models serve`) comes with the next issue.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    CACHE_DIR,
    django_env,
    machine_info,
    machine_loaded,
    versions,
    worker_report,
    write_section,
)

SEED = 42
DATA_ROWS = 20_000
SMOKE_DATA_ROWS = 1_500
SECONDS = 30.0
SMOKE_SECONDS = 1.0
FLOOR_CALLS = 2_000
SMOKE_FLOOR_CALLS = 50
BATCH_ROWS = 1_000
SMOKE_BATCH_ROWS = 100
GOAL_OVER_FLOOR_MS = 2.0
GOAL_P99_MS = 25.0
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
RESULTS_FILE = ROOT / "bench" / "results" / "b6.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# --------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------


def fit_serving(frame):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from bench.b3_training import TARGET
    from projects.ml.serving import ServingPipeline

    numeric = [c for c in frame.columns if c.startswith("num_")]
    categorical = [c for c in frame.columns if c.startswith("cat_")]
    features = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                numeric,
            ),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
        ]
    )
    pipeline = Pipeline(
        [
            ("features", features),
            ("model", HistGradientBoostingClassifier(max_iter=100, random_state=SEED)),
        ]
    )
    X, y = frame[numeric + categorical], frame[TARGET].astype(str)
    pipeline.fit(X, y)
    return ServingPipeline(
        recipes=[],
        pipeline=pipeline,
        input_columns=numeric + categorical,
        task_type="classification",
        classes=[str(c) for c in pipeline.classes_],
    )


def schema_of(frame) -> dict:
    from bench.b3_training import TARGET

    columns = []
    for name in frame.columns:
        if name == TARGET:
            continue
        values = frame[name]
        if name.startswith("num_"):
            columns.append(
                {
                    "name": name,
                    "kind": "numeric",
                    "min": float(values.min()),
                    "max": float(values.max()),
                    "nullable": bool(values.isna().any()),
                }
            )
        else:
            columns.append(
                {
                    "name": name,
                    "kind": "categorical",
                    "categories": sorted(values.dropna().astype(str).unique().tolist()),
                    "nullable": bool(values.isna().any()),
                }
            )
    return {
        "columns": columns,
        "target": TARGET,
        "task_type": "classification",
        "classes": ["0", "1"],
    }


def build(workdir: Path, data: Path) -> dict:
    """The live deployment and its key; returns what the load needs."""
    import hashlib
    import uuid

    import pandas as pd
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command
    from django.utils import timezone

    from projects.ml.artifacts import dump_model
    from projects.models import Dataset, Deployment, Endpoint, Experiment, ModelVersion
    from projects.services.keys import deployment_key_create
    from projects.services.projects import project_create

    call_command("migrate", verbosity=0)
    frame = pd.read_parquet(data)
    serving = fit_serving(frame)
    owner = get_user_model().objects.create_user("owner", password="bench-pw-123456")
    project = project_create(
        user=owner,
        name="B6 serving",
        task_type="classification",
        primary_metric="f1_macro",
        success_threshold=0.7,
    )
    dataset = Dataset.objects.create(
        project=project,
        version=1,
        original_name="b6.parquet",
        source_format="parquet",
        status="ready",
        n_rows=len(frame),
        n_columns=frame.shape[1],
        sha256="0" * 64,
        created_by=owner,
    )
    experiment = Experiment.objects.create(
        project=project,
        dataset=dataset,
        algorithm="hist_gradient_boosting",
        status=Experiment.Status.SUCCEEDED,
        created_by=owner,
    )
    blob = dump_model(
        serving,
        key=settings.MODEL_SIGNING_KEY.encode(),
        metadata={"project_id": project.pk, "kind": "serving"},
    )
    name = default_storage.save(
        f"models/{project.pk}/versions/{uuid.uuid4().hex}.lcmodel", ContentFile(blob)
    )
    version = ModelVersion.objects.create(
        project=project,
        experiment=experiment,
        version=1,
        artifact=name,
        artifact_sha256=hashlib.sha256(blob).hexdigest(),
        schema=schema_of(frame),
        created_by=owner,
    )
    endpoint = Endpoint.objects.create(
        project=project, environment="production", slug=f"{project.slug}-production"
    )
    now = timezone.now()
    deployment = Deployment.objects.create(
        project=project,
        endpoint=endpoint,
        model_version=version,
        status=Deployment.Status.LIVE,
        requested_by=owner,
        decided_by=owner,
        decided_at=now,
        live_at=now,
    )
    _key, secret = deployment_key_create(deployment=deployment, user=owner, name="b6")
    features = frame.drop(columns=["label"])
    records = json.loads(
        features.sample(n=min(2000, len(features)), random_state=SEED).to_json(
            orient="records"
        )
    )
    return {
        "serving": serving,
        "schema": version.schema,
        "path": f"/deployments/{endpoint.slug}/predict",
        "secret": secret,
        "records": records,
        "model_bytes": len(blob),
    }


# --------------------------------------------------------------------------------------
# Floors in process
# --------------------------------------------------------------------------------------


def in_process(ctx: dict, calls: int) -> dict:
    """ServingPipeline.predict on one row (the floor), and check_rows + predict."""
    import pandas as pd

    from projects.ml.serving import check_rows
    from projects.services.serving import single_threaded

    serving, records = ctx["serving"], ctx["records"]
    frames = [pd.DataFrame([r]) for r in records[:50]]
    predict, checked = [], []
    for i in range(calls + 20):
        frame = frames[i % len(frames)]
        # As the server predicts: one thread for OpenMP and BLAS.
        with single_threaded():
            start = time.perf_counter()
            serving.predict(frame)
            middle = time.perf_counter()
            body = {"records": [records[i % len(records)]]}
            rows, _ = check_rows(body, ctx["schema"])
            serving.predict(rows)
            end = time.perf_counter()
        if i >= 20:  # warm-up
            predict.append(middle - start)
            checked.append(end - middle)
    return {"predict_1_row": predict, "check_and_predict_1_row": checked}


# --------------------------------------------------------------------------------------
# The server and the load
# --------------------------------------------------------------------------------------


def wsgi_app():
    """gunicorn's app factory: the project's WSGI app with B6's URLconf."""
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    settings.ROOT_URLCONF = "bench.serving_urls"
    return application


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(workdir: Path):
    port = _free_port()
    log = open(workdir / "gunicorn.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.b6_serving:wsgi_app()",
            "--bind",
            f"127.0.0.1:{port}",
            # As bin/run-all and the Dockerfile.
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "120",
            "--no-control-socket",
            "--error-logfile",
            "-",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "gunicorn did not start:\n"
                        + (workdir / "gunicorn.log").read_text(errors="replace")[-3000:]
                    ) from None
                time.sleep(0.2)
        _warm(port)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def _warm(port: int) -> None:
    """Wait until the workers have booted and answer (up to 2 minutes)."""
    deadline = time.monotonic() + 120
    answered = 0
    while answered < 10:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("POST", "/bench/empty", body=b"{}")
            answered += connection.getresponse().status == 200
            connection.close()
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn does not answer")
        time.sleep(0.05)


def _client(args: tuple) -> dict:
    """One client: a keep-alive connection, requests back to back."""
    port, path, headers, bodies, seconds, warmup_s = args
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, errors, i = [], 0, 0
    start = time.monotonic()
    measure_from = start + warmup_s
    stop = measure_from + seconds
    while True:
        now = time.monotonic()
        if now >= stop:
            break
        body = bodies[i % len(bodies)]
        i += 1
        sent = time.perf_counter()
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
            if response.will_close:
                connection.close()
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
        elapsed = time.perf_counter() - sent
        if now >= measure_from:
            times.append(elapsed)
            errors += 0 if ok else 1
    connection.close()
    return {"times": times, "errors": errors}


def work_load(spec_path: Path) -> None:
    """The load process: N client processes for the duration; one result line."""
    import multiprocessing

    spec = json.loads(spec_path.read_text())
    bodies = [b.encode() for b in spec["bodies"]]
    headers = {"Content-Type": "application/json", **spec["headers"]}
    args = (
        spec["port"],
        spec["path"],
        headers,
        bodies,
        spec["seconds"],
        spec["warmup_s"],
    )
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(spec["clients"]) as pool:
        parts = pool.map(_client, [args] * spec["clients"])
    times = [t for p in parts for t in p["times"]]
    worker_report(
        times=times,
        errors=sum(p["errors"] for p in parts),
        seconds=spec["seconds"],
        work_s=time.perf_counter() - started,
    )


def load(
    port: int,
    path: str,
    *,
    headers: dict,
    bodies: list[str],
    clients: int,
    seconds: float,
    workdir: Path,
) -> dict:
    spec = workdir / "load.json"
    spec.write_text(
        json.dumps(
            {
                "port": port,
                "path": path,
                "headers": headers,
                "bodies": bodies,
                "clients": clients,
                "seconds": seconds,
                "warmup_s": min(2.0, seconds / 2),
            }
        )
    )
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", "load", str(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("BENCH-RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"load process failed: {out.stderr[-3000:]}")
    return json.loads(lines[-1][len("BENCH-RESULT ") :])


# --------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------


def _summary(times: list[float]) -> dict:
    return {
        "n": len(times),
        "p50_ms": statistics.median(times) * 1000 if times else None,
        "p99_ms": percentile(times, 0.99) * 1000 if times else None,
    }


def run_all(args: argparse.Namespace) -> dict:
    from bench.b3_training import make_data

    base = Path(args.workdir) if args.workdir else CACHE_DIR
    base.mkdir(parents=True, exist_ok=True)
    rows = SMOKE_DATA_ROWS if args.smoke else DATA_ROWS
    data = make_data(base / f"b6_{rows}x20_seed{SEED}.parquet", rows)
    workdir = base / "b6"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    os.environ.update(django_env(workdir, args.redis_url))
    import django

    django.setup()
    ctx = build(workdir, data)
    calls = SMOKE_FLOOR_CALLS if args.smoke else FLOOR_CALLS
    floors = in_process(ctx, calls)
    floor = _summary(floors["predict_1_row"])
    print(f"B6: in-process predict, one row: p50 {floor['p50_ms']:.2f} ms", flush=True)

    seconds = SMOKE_SECONDS if args.smoke else args.seconds
    batch = SMOKE_BATCH_ROWS if args.smoke else BATCH_ROWS
    records = ctx["records"]
    one_row = [json.dumps({"records": [r]}) for r in records[:200]]
    batches = [
        json.dumps({"records": records[i : i + batch]})
        for i in range(0, min(len(records), 2 * batch), batch)
    ]
    auth = {"Authorization": f"Bearer {ctx['secret']}"}
    plan = [
        ("empty view, 1 client", "/bench/empty", {}, ["{}"], 1, 1),
        ("empty view, 8 clients", "/bench/empty", {}, ["{}"], 8, 1),
        ("predict 1 row, 1 client", ctx["path"], auth, one_row, 1, 1),
        ("predict 1 row, 8 clients", ctx["path"], auth, one_row, 8, 1),
        (f"predict {batch:,} rows, 1 client", ctx["path"], auth, batches, 1, batch),
    ]
    results = []
    with gunicorn(workdir) as port:
        for name, path, headers, bodies, clients, rows_per in plan:
            out = load(
                port,
                path,
                headers=headers,
                bodies=bodies,
                clients=clients,
                seconds=seconds,
                workdir=workdir,
            )
            summary = _summary(out["times"])
            requests_per_s = len(out["times"]) / out["seconds"]
            results.append(
                {
                    "name": name,
                    "clients": clients,
                    "rows": rows_per,
                    **summary,
                    "requests_per_s": requests_per_s,
                    "rows_per_s": requests_per_s * rows_per,
                    "errors": out["errors"],
                }
            )
            print(
                f"  {name}: p50 {_ms(summary['p50_ms'])}, p99 "
                f"{_ms(summary['p99_ms'])}, {requests_per_s:,.0f} req/s, "
                f"{out['errors']} errors",
                flush=True,
            )
    info = machine_info()
    return {
        "benchmark": "b6",
        "smoke": bool(args.smoke),
        "machine": info,
        "loaded": machine_loaded(info),
        "versions": versions(["scikit-learn", "pandas", "Django", "gunicorn"]),
        "data_rows": rows,
        "model_bytes": ctx["model_bytes"],
        "seconds_per_load": seconds,
        "batch_rows": batch,
        "floor": {
            "predict_1_row": floor,
            "check_and_predict_1_row": _summary(floors["check_and_predict_1_row"]),
        },
        "results": results,
    }


def _ms(value) -> str:
    return "—" if value is None else f"{value:,.2f} ms"


def render(out: dict) -> str:
    by_name = {r["name"]: r for r in out["results"]}
    floor = out["floor"]["predict_1_row"]
    one = by_name["predict 1 row, 1 client"]
    eight = by_name["predict 1 row, 8 clients"]
    empty = by_name["empty view, 1 client"]
    batch = next(r for r in out["results"] if r["rows"] > 1)
    info = out["machine"]
    p50_goal = floor["p50_ms"] + GOAL_OVER_FLOOR_MS
    p50_met = one["p50_ms"] <= p50_goal
    p99_met = eight["p99_ms"] < GOAL_P99_MS
    lines = [
        "## B6 Prediction endpoint (first half: ours alone)",
        "",
        f"A preprocessing + HistGradientBoosting pipeline on 20 features (B3's table, "
        f"{out['data_rows']:,} rows; model file {out['model_bytes'] / 1024:,.0f} KiB), "
        "registered, live, and served by gunicorn (2 worker processes, 4 threads each, "
        "as `make run`) on loopback. Load from a second process: each client a "
        "keep-alive connection sending requests back to back for "
        f"{out['seconds_per_load']:g} s (after a warm-up); latency measured by the "
        "client. Floors: `ServingPipeline.predict` on one row in process, and an "
        "empty Django view on the same server. The comparison with "
        "`mlflow models serve` comes with the next issue.",
        "",
        "| load | p50 | p99 | requests/s | rows/s | errors |",
        "|---|---|---|---|---|---|",
        f"| floor: in-process predict, 1 row | {_ms(floor['p50_ms'])} | "
        f"{_ms(floor['p99_ms'])} | | | |",
        f"| in-process schema check + predict, 1 row | "
        f"{_ms(out['floor']['check_and_predict_1_row']['p50_ms'])} | "
        f"{_ms(out['floor']['check_and_predict_1_row']['p99_ms'])} | | | |",
    ]
    for r in out["results"]:
        lines.append(
            f"| {r['name']} | {_ms(r['p50_ms'])} | {_ms(r['p99_ms'])} | "
            f"{r['requests_per_s']:,.0f} | {r['rows_per_s']:,.0f} | {r['errors']} |"
        )
    lines += [
        "",
        f"- One-row p50 at 1 client: {_ms(one['p50_ms'])} against the floor's "
        f"{_ms(floor['p50_ms'])} + 2 ms = {_ms(p50_goal)}: "
        f"{'met' if p50_met else '**not met**'} (the empty view alone costs "
        f"{_ms(empty['p50_ms'])} through the server).",
        f"- One-row p99 at 8 clients: {_ms(eight['p99_ms'])} against 25 ms: "
        f"{'met' if p99_met else '**not met**'}.",
        f"- Batches of {out['batch_rows']:,} rows: {batch['rows_per_s']:,.0f} rows/s "
        "at 1 client.",
        "",
        f"Machine: {info['cores']} cores, {info['memory']}, {info['cpu']}; Python "
        f"{info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in out["versions"].items())
        + f"; commit {info['commit']}; load {info['load']} ({info['date']})."
        + (
            " **The machine was shared with other work during this run: treat the "
            "numbers as indicative.**"
            if out["loaded"]
            else ""
        )
        + (" Smoke run (tiny data, 1 s loads): not a result." if out["smoke"] else "")
        + (
            f" Short run ({out['seconds_per_load']:g} s loads, not the 30 s of "
            "BENCHMARKS.md): not a result of record."
            if not out["smoke"] and out["seconds_per_load"] < SECONDS
            else ""
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny data, 1 s loads")
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument(
        "--render", action="store_true", help="docs from bench/results/b6.json only"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        help="a Redis the app may reach (the predict path does not use it)",
    )
    parser.add_argument("--workdir", help="where data and outputs go (var/bench)")
    parser.add_argument("--worker", choices=["load"], help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "load":
        work_load(Path(args.paths[0]))
        return 0
    if args.render:
        write_section("b6", render(json.loads(RESULTS_FILE.read_text())))
        print("B6: docs/benchmarks.md updated from bench/results/b6.json")
        return 0
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="b6-smoke-") as tmp:
            args.workdir = args.workdir or tmp
            out = run_all(args)
            print(render(out))
        return 0

    out = run_all(args)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(out, indent=1) + "\n")
    body = render(json.loads(RESULTS_FILE.read_text()))
    print(body)
    if not args.no_docs:
        write_section("b6", body)
        print("B6: bench/results/b6.json and docs/benchmarks.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
