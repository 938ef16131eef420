"""Issue #3 measurements on the local PostgreSQL (one run, ratios against same-run baselines).

(a) write 1,000,000 score rows: pulsewatch's loader vs `psql \\copy` of the same rows from a
    CSV file vs pandas `to_sql`; extract the scoring frame: pulsewatch's reader vs
    pandas `read_sql` of the same query (time and peak memory);
(b) scoring + loading 100,000 and 1,000,000 employees (wall time, peak RSS);
(c) a scoring night end to end through the real flow against a running `prefect server`, vs
    its floor (the same functions with no orchestration, = (b) at 1M) and vs a naive script
    (read_sql → predict → to_sql); a training night (train-model flow) vs the naive script
    with `lgb.train` added;
(d) training at population scale (issue 18): the streamed path at 100k and 1M employees x 24
    months, the in-memory path at 100k; only with PULSEWATCH_BENCH_FULL=1 (about 20 minutes;
    `python -m benchmarks.postgres_io training` runs (d) alone).
Every measurement runs in a fresh child process so its peak RSS (VmHWM) is its own. The loaded
tables are vacuumed before the first measurement; the reads and writes of (a) report the median
of REPEATS interleaved runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tests.support.ports import free_port

if TYPE_CHECKING:  # the steps import the project lazily, in their own processes
    from tasks.registry import RegistryEntry
    from tasks.warehouse import Warehouse

PG_URL = os.environ.get(
    "PULSEWATCH_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
LARGE_SCHEMA, SMALL_SCHEMA = "pw_bench_large", "pw_bench_small"
TRAIN_LARGE_SCHEMA, TRAIN_SMALL_SCHEMA = "pw_bench_train_large", "pw_bench_train_small"
# PULSEWATCH_BENCH_SCALE=0.02 runs the same steps on 20,000 / 2,000 employees (a smoke test).
SCALE = float(os.environ.get("PULSEWATCH_BENCH_SCALE", "1"))
LARGE, SMALL = int(1_000_000 * SCALE), int(100_000 * SCALE)
END_MONTH = date(2026, 10, 1)
DAY = date(2026, 11, 20)
# PULSEWATCH_BENCH_FULL=1 adds (d), training at population scale (1M employees x 24 months
# loaded and trained on: about 20 minutes more); `make bench` leaves it out.
FULL = os.environ.get("PULSEWATCH_BENCH_FULL") == "1"
# LightGBM threads for every prediction and fit below (flows, floor and naive scripts alike):
# the deployments run with num_threads=2 on 2 vCPU, and this machine has 2 cores.
THREADS = int(os.environ.get("PULSEWATCH_BENCH_THREADS", "2"))
# The reads and writes of (a) run this often, in rounds with the paths they are compared with;
# each reports its median run (all runs are kept as `runs_s`).
REPEATS = 3


def champion_of(warehouse: Warehouse) -> RegistryEntry:
    """The registered champion; the benchmark steps run after `champion` registered one."""
    from tasks.registry import read_champion

    champion = read_champion(warehouse)
    if champion is None:
        raise SystemExit("no champion registered: run the benchmark's champion step first")
    return champion


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _env(schema: str, folder: str, **extra: str) -> dict:
    return {
        **os.environ,
        "PULSEWATCH_WAREHOUSE_URL": PG_URL,
        "PULSEWATCH_SCHEMA": schema,
        "PULSEWATCH_MODEL_STORE": f"{folder}/models",
        "PULSEWATCH_WORK_DIR": f"{folder}/work",
        **extra,
    }


def run_json(args: list[str], env: dict | None = None) -> dict:
    """Run `python -m args...` in its own process; its last line of output is its JSON result.
    On failure, the error names the step and ends with the child's last lines of stderr (the
    output is captured for the JSON, so without them a failed step says nothing of why)."""
    out = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-25:])
        raise RuntimeError(f"{' '.join(args)} exited with {out.returncode}:\n{tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(step: str, schema: str, folder: str, extra: dict | None = None) -> dict:
    return run_json(
        ["benchmarks.postgres_io", step, schema, folder], _env(schema, folder, **(extra or {}))
    )


# -- steps, each run in its own process -----------------------------------------------------
def step_demo(schema: str, employees: int, months: int) -> dict:
    from tasks.demo_data import DemoSpec, write_demo_data
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    started = time.perf_counter()
    with open_warehouse(get_settings()) as warehouse:
        summary = write_demo_data(warehouse, DemoSpec(employees, months, 7, END_MONTH))
    return {"rows": summary.survey_rows, "seconds": time.perf_counter() - started}


def _fragments(warehouse) -> dict:
    from tasks.features import feature_sql

    return feature_sql(warehouse)


def _scoring_sql(warehouse) -> tuple[str, dict]:
    """pulsewatch's scoring query: the feature month's snapshot joined to employees."""
    from tasks.dates import scoring_params

    return warehouse.sql("scoring_frame"), scoring_params(DAY)


def _naive_scoring_sql(warehouse) -> tuple[str, dict]:
    """The naive script's scoring query: the same features computed from the source tables
    (the same SQL as the snapshot build, joined to employees in one statement)."""
    from tasks.dates import feature_params, scoring_params

    params = scoring_params(DAY)
    features = "WITH monthly AS ({monthly}) {current_features}".format(**_fragments(warehouse))
    sql = warehouse.sql("scoring_frame").replace(
        warehouse.qualified("employee_features"), f"({features})"
    )
    return sql, {**feature_params(params["feature_month"]), **params}


def step_prepare(schema: str, folder: str) -> dict:
    """The first night of a feature month: build its snapshot from the source rows."""
    from tasks.feature_store import forget_features, prepare_features
    from tasks.registry import ensure_result_tables
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    with open_warehouse(get_settings()) as warehouse:
        ensure_result_tables(warehouse)
        forget_features(warehouse)
        started = time.perf_counter()
        snapshot = prepare_features(warehouse, DAY)
        seconds = time.perf_counter() - started
        again = time.perf_counter()
        current = prepare_features(warehouse, DAY)
        check_seconds = time.perf_counter() - again
    assert snapshot.built and not current.built
    return {
        "rows": snapshot.employees,
        "seconds": seconds,
        "current_check_s": check_seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


def step_forget_features(schema: str, folder: str) -> dict:
    from tasks.feature_store import forget_features
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    with open_warehouse(get_settings()) as warehouse:
        forget_features(warehouse)
    return {}


def step_read_pulsewatch(schema: str, folder: str) -> dict:
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    rows = 0
    with open_warehouse(get_settings()) as warehouse:
        params = _scoring_sql(warehouse)[1]  # imports tasks.features (and prefect): untimed
        started = time.perf_counter()
        for frame in warehouse.stream("scoring_frame", params, 50_000):
            rows += len(frame)
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def step_read_pulsewatch_serial(schema: str, folder: str) -> dict:
    """The same reader with the server's default plan for the scoring frame (serial): what
    the parallel plan of sql/postgres_parallel_read.sql gains, measured in the same run."""
    from tasks.warehouse import postgres_io

    postgres_io.PARALLEL_READS = frozenset()
    return step_read_pulsewatch(schema, folder)


def step_read_pandas(schema: str, folder: str) -> dict:
    import pandas as pd

    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    with open_warehouse(get_settings()) as warehouse:
        sql, params = _scoring_sql(warehouse)
        started = time.perf_counter()
        frame = pd.read_sql(sa.text(sql), warehouse.engine, params=params)
    return {
        "rows": len(frame),
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def _score_rows(n: int):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    return pa.table(
        {
            "score_date": pa.array([DAY] * n, pa.date32()),
            "employee_id": pa.array(np.arange(n, dtype=np.int64)),
            "risk_score": pa.array(rng.random(n)),
            "model_version": pa.array(["m20261120T020000-abcdef"] * n),
            "flow_run_id": pa.array(["7c1e2b34-5d6f-4a8b-9c0d-1e2f3a4b5c6d"] * n),
            "scored_at": pa.array(np.full(n, np.datetime64("2026-11-20T02:00:00", "us"))),
        }
    )


def _truncate_scores(warehouse) -> None:
    """Every write starts from the same state: an empty table without dead rows."""
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {warehouse.qualified('condition_scores')}"))


def step_write_pulsewatch(schema: str, folder: str) -> dict:
    from tasks.registry import ensure_result_tables
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    rows = _score_rows(LARGE)
    with open_warehouse(get_settings()) as warehouse:
        ensure_result_tables(warehouse)
        _truncate_scores(warehouse)
        started = time.perf_counter()
        written = warehouse.replace_partition(
            "condition_scores", "score_date", DAY, rows.to_batches(100_000), LARGE
        )
    return {"rows": written, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def step_write_psql(schema: str, folder: str) -> dict:
    import pyarrow.csv as pacsv

    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    path = Path(folder, "scores.csv")
    pacsv.write_csv(_score_rows(LARGE), path, pacsv.WriteOptions(include_header=False))
    with open_warehouse(get_settings()) as warehouse:
        _truncate_scores(warehouse)
    url = sa.make_url(PG_URL)
    started = time.perf_counter()
    subprocess.run(
        [
            "psql",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-d",
            url.database or "postgres",
            "-q",
            "-c",
            f"\\copy {schema}.condition_scores FROM '{path}' WITH (FORMAT csv)",
        ],
        check=True,
    )
    return {"rows": LARGE, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def step_write_to_sql(schema: str, folder: str) -> dict:
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    frame = _score_rows(LARGE).to_pandas()
    with open_warehouse(get_settings()) as warehouse:
        _truncate_scores(warehouse)
        started = time.perf_counter()
        frame.to_sql(
            "condition_scores", warehouse.engine, schema=schema, if_exists="append", index=False
        )
    return {"rows": LARGE, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def step_score_direct(schema: str, folder: str) -> dict:
    """The floor: fast read + predict + bulk write of the same rows, no orchestration (with
    the feature snapshot's check, or its build on the first night of a month)."""
    from tasks.feature_store import prepare_features, stream_scoring_frames
    from tasks.model_store import load_model, model_store
    from tasks.results import load_scores, remove_files
    from tasks.scoring import score_to_file
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    with open_warehouse(get_settings()) as warehouse:
        _truncate_scores(warehouse)  # a night scores a new date: nothing to replace
    started = time.perf_counter()
    with open_warehouse(get_settings()) as warehouse:
        champion = champion_of(warehouse)
        model = load_model(model_store(get_settings()), champion.stored)
        prepare_features(warehouse, DAY)
        result = score_to_file(
            stream_scoring_frames(warehouse, DAY, 50_000),
            model,
            champion.model_version,
            DAY,
            None,
            Path(folder, "direct.parquet"),
            THREADS,
        )
        written = load_scores(warehouse, result)
    remove_files(result)  # as the flow's load does: the next run creates it anew (0600, O_EXCL)
    return {"rows": written, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}


def step_score_flow(schema: str, folder: str) -> dict:
    """The flow without reasons (reasons_top_share 0; its default is the top 10%): the same
    work as the floor and the naive script, so the ratios measure orchestration and the
    checks. What reasons add is benchmarks/reasons.py's measurement."""
    from flows.score import score_population
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    with open_warehouse(get_settings()) as warehouse:
        _truncate_scores(warehouse)  # a night scores a new date: nothing to replace
    started = time.perf_counter()
    report = score_population(score_date=DAY, num_threads=THREADS, reasons_top_share=0.0)
    return {
        "rows": report.rows,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def step_train_flow(schema: str, folder: str) -> dict:
    from flows.train import train_model

    started = time.perf_counter()
    report = train_model(train_end_date=DAY, auc_floor=0.5, max_auc_drop=1.0, num_threads=THREADS)
    return {
        "rows": report.n_train + report.n_valid,
        "seconds": time.perf_counter() - started,
        "auc": report.auc,
        "peak_rss_mb": peak_rss_mb(),
    }


def _training_window():
    from tasks.features import TrainingWindow

    return TrainingWindow.ending(DAY, 18)


def step_train_streamed(schema: str, folder: str) -> dict:
    """The flow's training path alone (no orchestration): batches checked and spilled, the
    Dataset built from the spill, validation AUC from the spill."""
    from tasks.features import extract_training_data
    from tasks.settings import get_settings
    from tasks.training import TrainingConfig, fit_streamed
    from tasks.warehouse import open_warehouse

    started = time.perf_counter()
    with open_warehouse(get_settings()) as warehouse:
        data = extract_training_data(warehouse, _training_window(), f"{folder}/work")
    with data:
        model = fit_streamed(data, TrainingConfig(num_threads=THREADS), DAY)
    metrics = model.metrics
    return {
        "rows": metrics["n_train"] + metrics["n_valid"],
        "seconds": time.perf_counter() - started,
        "auc": metrics["auc"],
        "peak_rss_mb": peak_rss_mb(),
    }


def step_train_in_memory(schema: str, folder: str) -> dict:
    """The in-memory reference: the whole checked frame, its model matrix, lgb.Dataset."""
    from tasks.features import extract_training_frame
    from tasks.settings import get_settings
    from tasks.training import TrainingConfig, fit_model
    from tasks.warehouse import open_warehouse

    started = time.perf_counter()
    with open_warehouse(get_settings()) as warehouse:
        frame = extract_training_frame(warehouse, _training_window())
    model = fit_model(frame, TrainingConfig(num_threads=THREADS), DAY)
    return {
        "rows": len(frame),
        "seconds": time.perf_counter() - started,
        "auc": model.metrics["auc"],
        "peak_rss_mb": peak_rss_mb(),
    }


def run_training() -> dict:
    """Training at population scale (issue 18): the streamed path at 100k and 1M employees x
    24 months, the in-memory path beside it at 100k (at 1M it needs ~10 GB)."""
    results: dict = {}
    folder = tempfile.mkdtemp(prefix="pw-bench-train-")
    schemas = {TRAIN_SMALL_SCHEMA: "demo-small", TRAIN_LARGE_SCHEMA: "demo-large-24"}
    try:
        for schema, demo in schemas.items():
            reset_schema(schema)
            child(demo, schema, folder)
        settle(*schemas)
        for step in ("train_streamed", "train_in_memory"):  # each its own process
            results[f"{step}_small"] = child(step, TRAIN_SMALL_SCHEMA, folder)
        results["train_streamed_large"] = child("train_streamed", TRAIN_LARGE_SCHEMA, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            for schema in schemas:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
    return results


def training_ratios(r: dict) -> dict:
    small, large = r["train_streamed_small"], r["train_streamed_large"]
    memory = r["train_in_memory_small"]
    return {
        "train_streamed_peak_rss_1m_vs_100k": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
        "train_streamed_seconds_1m_vs_100k": round(large["seconds"] / small["seconds"], 2),
        "train_in_memory_vs_streamed_peak_rss_100k": round(
            memory["peak_rss_mb"] / small["peak_rss_mb"], 2
        ),
        "train_in_memory_vs_streamed_seconds_100k": round(memory["seconds"] / small["seconds"], 2),
        "train_streamed_auc_minus_in_memory_100k": round(small["auc"] - memory["auc"], 4),
        "train_streamed_mb_per_million_rows": round(
            (large["peak_rss_mb"] - small["peak_rss_mb"]) / ((large["rows"] - small["rows"]) / 1e6)
        ),
        "train_streamed_seconds_per_million_rows": round(
            large["seconds"] / (large["rows"] / 1e6), 1
        ),
    }


def _naive(with_training: bool, results_table: bool = True) -> dict:
    """What a careful data scientist writes by hand: read_sql, (train,) predict, to_sql.

    `results_table`: write the same rows as the flow into condition_scores (the target's
    baseline); False: only (score_date, employee_id, risk_score) into a scratch table that
    to_sql replaces, as this benchmark did before 2026-11-29 (kept for comparison)."""
    import lightgbm as lgb
    import pandas as pd

    from tasks.contract import FEATURE_COLUMNS
    from tasks.features import TrainingWindow
    from tasks.model_store import load_model, model_store
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    with open_warehouse(get_settings()) as warehouse:
        _truncate_scores(warehouse)  # the same empty table the flow starts from
    started = time.perf_counter()
    with open_warehouse(get_settings()) as warehouse:
        engine = warehouse.engine
        if with_training:
            window = TrainingWindow.ending(DAY, 18)
            train = pd.read_sql(
                sa.text(warehouse.sql("training_frame", **_fragments(warehouse))),
                engine,
                params=window.params(),
            )
            train["department"] = train["department"].astype("category")
            booster = lgb.train(
                {"objective": "binary", "num_threads": THREADS, "verbosity": -1},
                lgb.Dataset(train[list(FEATURE_COLUMNS)], train["label"]),
                num_boost_round=200,
            )
            version = "naive-" + DAY.isoformat()
        else:
            champion = champion_of(warehouse)
            booster = load_model(model_store(get_settings()), champion.stored).booster
            version = champion.model_version
        sql, params = _naive_scoring_sql(warehouse)
        frame = pd.read_sql(sa.text(sql), engine, params=params)
        frame["department"] = frame["department"].astype("category")
        risk = booster.predict(frame[list(FEATURE_COLUMNS)], num_threads=THREADS)
        scores = pd.DataFrame(
            {"score_date": DAY, "employee_id": frame["employee_id"], "risk_score": risk}
        )
        if results_table:
            # the same rows as the flow writes, into the same table, replacing the date's rows
            # in one transaction (what a careful script does to be re-runnable)
            scores["model_version"] = version
            scores["flow_run_id"] = None
            scores["scored_at"] = pd.Timestamp.now()
            with engine.begin() as conn:
                table = warehouse.qualified("condition_scores")
                conn.execute(sa.text(f"DELETE FROM {table} WHERE score_date = :d"), {"d": DAY})
                scores.to_sql(
                    "condition_scores",
                    conn,
                    schema=warehouse.schema,
                    if_exists="append",
                    index=False,
                )
        else:
            scores.to_sql(
                "naive_scores", engine, schema=warehouse.schema, if_exists="replace", index=False
            )
    return {
        "rows": len(train) if with_training else len(scores),
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def step_naive_score(schema: str, folder: str) -> dict:
    return _naive(False)


def step_naive_score_scratch(schema: str, folder: str) -> dict:
    return _naive(False, results_table=False)


def step_naive_train(schema: str, folder: str) -> dict:
    return _naive(True)


def step_champion(schema: str, folder: str) -> dict:
    """Train once on the small population and register the model as champion in `schema`."""
    from tasks.features import TrainingWindow, extract_training_frame
    from tasks.model_store import model_store, save_model
    from tasks.promotion import PromotionPolicy, decide
    from tasks.registry import ensure_result_tables, record_model
    from tasks.settings import get_settings
    from tasks.training import TrainingConfig, fit_model
    from tasks.warehouse import open_warehouse, warehouse_for_url

    with warehouse_for_url(PG_URL, SMALL_SCHEMA) as small:
        frame = extract_training_frame(small, TrainingWindow.ending(DAY, 18))
    model = fit_model(frame, TrainingConfig(num_threads=THREADS), DAY)
    stored = save_model(model_store(get_settings()), model, "bench-champion")
    with open_warehouse(get_settings()) as warehouse:
        ensure_result_tables(warehouse)
        record_model(
            warehouse,
            stored,
            model,
            decide(model.metrics["auc"], None, PromotionPolicy(0.5)),
            None,
            None,
        )
    return {"auc": model.metrics["auc"], "rows": len(frame)}


# -- orchestration of the whole benchmark ----------------------------------------------------
def start_prefect_server(home: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": home,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("prefect")),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return server, url
        except OSError:
            time.sleep(1)
    server.kill()
    raise RuntimeError("prefect server did not start within 180 s")


def reset_schema(schema: str) -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()


def settle(*schemas: str) -> None:
    """VACUUM (ANALYZE) the freshly loaded tables before anything is measured. Otherwise
    autovacuum's first pass over millions of new rows, and the hint bits that the first reader
    of new rows writes back, fall on whichever measurement happens to run first."""
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for schema in schemas:
            tables = conn.execute(
                sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                {"schema": schema},
            ).scalars()
            for table in list(tables):
                conn.execute(sa.text(f'VACUUM (ANALYZE) {schema}."{table}"'))
    engine.dispose()


def repeated(steps: tuple[str, ...], schema: str, folder: str) -> dict:
    """Each step REPEATS times, in rounds (so a slow spell of the shared machine falls on
    every step alike); per step, its median run with every run's seconds."""
    runs: dict[str, list[dict]] = {step: [] for step in steps}
    for round_ in range(REPEATS):
        shift = round_ % len(steps)  # each step takes its turn at going first
        for step in steps[shift:] + steps[:shift]:
            runs[step].append(child(step, schema, folder))
    medians = {}
    for step, measured in runs.items():
        middle = sorted(measured, key=lambda m: m["seconds"])[len(measured) // 2]
        medians[step] = {**middle, "runs_s": [m["seconds"] for m in measured]}
    return medians


def run() -> dict:
    results: dict = {}
    folder = tempfile.mkdtemp(prefix="pw-bench-")
    server = None
    try:
        for schema in (LARGE_SCHEMA, SMALL_SCHEMA):
            reset_schema(schema)
        results["demo_large"] = child("demo-large", LARGE_SCHEMA, folder)
        results["demo_small"] = child("demo-small", SMALL_SCHEMA, folder)
        results["champion"] = child("champion", LARGE_SCHEMA, folder)
        results["prepare"] = child("prepare", LARGE_SCHEMA, folder)
        settle(LARGE_SCHEMA, SMALL_SCHEMA)
        reads = ("read_pulsewatch", "read_pulsewatch_serial", "read_pandas")
        results.update(repeated(reads, LARGE_SCHEMA, folder))
        writes = ("write_pulsewatch", "write_psql", "write_to_sql")
        results.update(repeated(writes, LARGE_SCHEMA, folder))
        child("champion", SMALL_SCHEMA, folder)
        child("score_direct", SMALL_SCHEMA, folder)  # builds the small schema's snapshot
        results["score_small"] = child("score_direct", SMALL_SCHEMA, folder)
        results["score_large"] = child("score_direct", LARGE_SCHEMA, folder)
        server, api = start_prefect_server(f"{folder}/prefect")
        flow_env = {"PREFECT_API_URL": api}
        child("score_flow", LARGE_SCHEMA, folder, flow_env)  # warm-up: first run registers flow
        child("forget_features", LARGE_SCHEMA, folder)
        results["score_flow_cold"] = child("score_flow", LARGE_SCHEMA, folder, flow_env)
        results["score_flow"] = child("score_flow", LARGE_SCHEMA, folder, flow_env)
        results["naive_score"] = child("naive_score", LARGE_SCHEMA, folder)
        results["naive_score_scratch"] = child("naive_score_scratch", LARGE_SCHEMA, folder)
        results["train_flow"] = child("train_flow", SMALL_SCHEMA, folder, flow_env)
        results["naive_train"] = child("naive_train", SMALL_SCHEMA, folder)
        if FULL:
            results.update(run_training())
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            for schema in (LARGE_SCHEMA, SMALL_SCHEMA):
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
    return results


def ratios(r: dict) -> dict:
    def rate(key: str) -> float:
        return r[key]["rows"] / r[key]["seconds"]

    return {
        "loader_vs_psql_copy": round(rate("write_pulsewatch") / rate("write_psql"), 2),
        "loader_vs_to_sql": round(rate("write_pulsewatch") / rate("write_to_sql"), 1),
        "reader_vs_read_sql": round(rate("read_pulsewatch") / rate("read_pandas"), 1),
        "reader_serial_plan_vs_read_sql": round(
            rate("read_pulsewatch_serial") / rate("read_pandas"), 1
        ),
        "reader_parallel_vs_serial_plan": round(
            rate("read_pulsewatch") / rate("read_pulsewatch_serial"), 2
        ),
        "reader_peak_rss_vs_read_sql": round(
            r["read_pulsewatch"]["peak_rss_mb"] / r["read_pandas"]["peak_rss_mb"], 2
        ),
        "score_peak_rss_1m_vs_100k": round(
            r["score_large"]["peak_rss_mb"] / r["score_small"]["peak_rss_mb"], 2
        ),
        "score_flow_vs_floor": round(r["score_flow"]["seconds"] / r["score_large"]["seconds"], 2),
        "naive_score_vs_flow": round(r["naive_score"]["seconds"] / r["score_flow"]["seconds"], 2),
        "naive_scratch_table_score_vs_flow": round(
            r["naive_score_scratch"]["seconds"] / r["score_flow"]["seconds"], 2
        ),
        "naive_score_vs_flow_first_night_of_month": round(
            r["naive_score"]["seconds"] / r["score_flow_cold"]["seconds"], 2
        ),
        "naive_train_vs_train_flow": round(
            r["naive_train"]["seconds"] / r["train_flow"]["seconds"], 2
        ),
    }


STEPS = {
    "prepare": step_prepare,
    "forget_features": step_forget_features,
    "demo-large": lambda s, f: step_demo(s, LARGE, 7),
    "demo-small": lambda s, f: step_demo(s, SMALL, 24),
    "demo-large-24": lambda s, f: step_demo(s, LARGE, 24),
    "champion": step_champion,
    "read_pulsewatch": step_read_pulsewatch,
    "read_pulsewatch_serial": step_read_pulsewatch_serial,
    "read_pandas": step_read_pandas,
    "write_pulsewatch": step_write_pulsewatch,
    "write_psql": step_write_psql,
    "write_to_sql": step_write_to_sql,
    "score_direct": step_score_direct,
    "score_flow": step_score_flow,
    "train_flow": step_train_flow,
    "naive_score": step_naive_score,
    "naive_score_scratch": step_naive_score_scratch,
    "naive_train": step_naive_train,
    "train_streamed": step_train_streamed,
    "train_in_memory": step_train_in_memory,
}

if __name__ == "__main__":
    if sys.argv[1:] == ["training"]:  # the training measurements alone
        measured = run_training()
        print(json.dumps({**measured, "ratios": training_ratios(measured)}, indent=2))
        sys.exit(0)
    step, schema, folder = sys.argv[1:4]
    result = STEPS[step](schema, folder)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))
