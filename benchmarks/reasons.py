"""Issue 17 item 4: the cost of reasons (score_reasons) on a 1M-employee scoring night.

On the local PostgreSQL, in one run, each in a fresh child process, without reasons
(reasons_top_share=0) and with the default top share, interleaved:
- the scoring night's floor (read the snapshot-joined scoring frame, predict, write the score
  file, load it: postgres_io.step_score_direct's path, no orchestration);
- the scoring night itself: the score-population flow against a running `prefect server` (the
  source checks and profile, the snapshot check, scoring, the load, the report), as
  postgres_io's (c) runs it. The champion is trained on a separate 100k x 24
months demo schema (as postgres_io does). `python -m benchmarks.reasons` runs it alone.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from benchmarks import postgres_io as pio

LARGE_SCHEMA, SMALL_SCHEMA = "pw_bench_reasons_large", "pw_bench_reasons_small"
ROUNDS = 3  # each variant runs this often, alternating; the medians are compared


def child(step: str, schema: str, folder: str, extra: dict | None = None) -> dict:
    return pio.run_json(
        ["benchmarks.reasons", step, schema, folder], pio._env(schema, folder, **(extra or {}))
    )


def step_champion(schema: str, folder: str) -> dict:
    """Train on the small schema and register the model as champion in `schema`."""
    from tasks.features import TrainingWindow, extract_training_frame
    from tasks.model_store import model_store, save_model
    from tasks.promotion import PromotionPolicy, decide
    from tasks.registry import ensure_result_tables, record_model
    from tasks.settings import get_settings
    from tasks.training import TrainingConfig, fit_model
    from tasks.warehouse import open_warehouse, warehouse_for_url

    with warehouse_for_url(pio.PG_URL, SMALL_SCHEMA) as small:
        frame = extract_training_frame(small, TrainingWindow.ending(pio.DAY, 18))
    model = fit_model(frame, TrainingConfig(num_threads=pio.THREADS), pio.DAY)
    stored = save_model(model_store(get_settings()), model, "bench-champion")
    with open_warehouse(get_settings()) as warehouse:
        ensure_result_tables(warehouse)
        decision = decide(model.metrics["auc"], None, PromotionPolicy(0.5))
        record_model(warehouse, stored, model, decision, None, None)
    return {"auc": model.metrics["auc"], "rows": len(frame)}


def step_night(schema: str, folder: str, share: float) -> dict:
    """The floor of a scoring night (postgres_io.step_score_direct) with `share` of reasons;
    the population count that reasons need is part of the timed night."""
    from tasks.feature_store import count_scoring_rows, prepare_features, stream_scoring_frames
    from tasks.model_store import load_model, model_store
    from tasks.results import load_scores, remove_files
    from tasks.scoring import score_to_file
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    _truncate()
    started = time.perf_counter()
    with open_warehouse(get_settings()) as warehouse:
        champion = pio.champion_of(warehouse)
        model = load_model(model_store(get_settings()), champion.stored)
        prepare_features(warehouse, pio.DAY)
        population = count_scoring_rows(warehouse, pio.DAY) if share > 0 else None
        counted = time.perf_counter() - started
        result = score_to_file(
            stream_scoring_frames(warehouse, pio.DAY, 50_000),
            model,
            champion.model_version,
            pio.DAY,
            None,
            Path(folder, f"scores-{share}.parquet"),
            pio.THREADS,
            reasons_top_share=share,
            population=population,
        )
        scored = time.perf_counter() - started
        written = load_scores(warehouse, result)
    seconds = time.perf_counter() - started
    remove_files(result)
    reasons = result.stats.get("reasons") or {}
    return {
        "rows": written,
        "seconds": seconds,
        "ready_s": counted,  # model loaded, snapshot checked, population counted
        "score_s": scored,
        "reasons_employees": reasons.get("employees", 0),
        "reasons_rows": explained.rows if (explained := result.explained()) else 0,
        "candidates": reasons.get("candidates", 0),  # rows ever held as candidates
        "contributions": reasons.get("contributions"),  # "grouped", or why it fell back
        "tree_patterns": reasons.get("tree_patterns", 0),
        "peak_rss_mb": pio.peak_rss_mb(),
    }


def step_flow(schema: str, folder: str, share: float) -> dict:
    """The scoring night through the score-population flow (PREFECT_API_URL: a running server)."""
    from flows.score import score_population

    _truncate()
    started = time.perf_counter()
    report = score_population(score_date=pio.DAY, num_threads=pio.THREADS, reasons_top_share=share)
    return {
        "rows": report.rows,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": pio.peak_rss_mb(),
    }


def _truncate() -> None:
    """A night scores a new date: nothing to replace."""
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    with open_warehouse(get_settings()) as warehouse, warehouse.engine.begin() as conn:
        for table in ("condition_scores", "score_reasons"):
            conn.execute(sa.text(f"TRUNCATE {warehouse.qualified(table)}"))


def _medians(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for name, measured in runs.items():
        middle = sorted(measured, key=lambda m: m["seconds"])[len(measured) // 2]
        out[name] = {**middle, "runs_s": [m["seconds"] for m in measured]}
    return out


def run() -> dict:
    """Both nights measured in one run; returns the seconds and their ratio."""
    from tasks.knobs import DEFAULTS

    folder = tempfile.mkdtemp(prefix="pw-bench-reasons-")
    results: dict = {"top_share": DEFAULTS.reasons_top_share}
    server = None
    try:
        for schema in (LARGE_SCHEMA, SMALL_SCHEMA):
            pio.reset_schema(schema)
        results["demo_large"] = child("demo-large", LARGE_SCHEMA, folder)
        results["demo_small"] = child("demo-small", SMALL_SCHEMA, folder)
        results["champion"] = child("champion", LARGE_SCHEMA, folder)
        results["prepare"] = child("prepare", LARGE_SCHEMA, folder)
        pio.settle(LARGE_SCHEMA, SMALL_SCHEMA)
        runs: dict[str, list[dict]] = {"without": [], "with": []}
        for _ in range(ROUNDS):
            runs["without"].append(child("night_without", LARGE_SCHEMA, folder))
            runs["with"].append(child("night_with", LARGE_SCHEMA, folder))
        for name, middle in _medians(runs).items():
            results[f"night_{name}_reasons"] = middle
        server, api = pio.start_prefect_server(f"{folder}/prefect")
        flow_env = {"PREFECT_API_URL": api}
        child("flow_with", LARGE_SCHEMA, folder, flow_env)  # warm-up: the first run registers
        flows: dict[str, list[dict]] = {"without": [], "with": []}
        for _ in range(ROUNDS):
            flows["without"].append(child("flow_without", LARGE_SCHEMA, folder, flow_env))
            flows["with"].append(child("flow_with", LARGE_SCHEMA, folder, flow_env))
        for name, middle in _medians(flows).items():
            results[f"flow_{name}_reasons"] = middle
        floor = (
            results["night_with_reasons"]["seconds"] / results["night_without_reasons"]["seconds"]
        )
        flow = results["flow_with_reasons"]["seconds"] / results["flow_without_reasons"]["seconds"]
        results["with_vs_without"] = round(floor, 2)  # the floor
        results["flow_with_vs_without"] = round(flow, 2)  # the scoring night (issue 17's target)
        results["target"] = 1.25
        results["within_target"] = flow <= 1.25
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
        engine = sa.create_engine(pio.PG_URL)
        with engine.begin() as conn:
            for schema in (LARGE_SCHEMA, SMALL_SCHEMA):
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
    return results


def _default_share() -> float:
    from tasks.knobs import DEFAULTS

    return DEFAULTS.reasons_top_share


STEPS = {
    "demo-large": lambda s, f: pio.step_demo(s, pio.LARGE, 7),
    "demo-small": lambda s, f: pio.step_demo(s, pio.SMALL, 24),
    "champion": step_champion,
    "prepare": pio.step_prepare,
    "night_without": lambda s, f: step_night(s, f, 0.0),
    "night_with": lambda s, f: step_night(s, f, _default_share()),
    "flow_without": lambda s, f: step_flow(s, f, 0.0),
    "flow_with": lambda s, f: step_flow(s, f, _default_share()),
}

if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(json.dumps(run(), indent=2))
        sys.exit(0)
    step, schema, folder = sys.argv[1:4]
    result = STEPS[step](schema, folder)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))
