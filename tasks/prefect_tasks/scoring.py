"""Scoring as a Prefect task, over the plain functions in tasks/scoring.py."""

from __future__ import annotations

import secrets
from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks import work_dir
from tasks.feature_store import count_scoring_rows, stream_scoring_frames
from tasks.knobs import check_top_share
from tasks.model import PulseModel
from tasks.registry import RegistryEntry
from tasks.retries import IO_RETRIES
from tasks.scoring import HIGH_RISK, ScoreFile, score_to_file
from tasks.settings import get_settings
from tasks.warehouse import open_warehouse


# The task streams from the warehouse, so a lost connection is worth a retry; model errors
# and data-contract violations are not (retry_transient refuses them).
@task(name="score-employees", persist_result=False, cache_policy=NONE, **IO_RETRIES)
def score_population_task(
    model: PulseModel,
    champion: RegistryEntry,
    score_date: date,
    chunk_rows: int,
    num_threads: int = 1,
    reasons_top_share: float = 0.0,
) -> ScoreFile:
    from prefect.runtime import flow_run

    run_id = flow_run.id
    folder = work_dir.prepare(get_settings().work_dir)  # also clears stale work files
    path = folder / f"scores-{score_date}-{run_id or 'local'}-{secrets.token_hex(3)}.parquet"
    share = check_top_share(reasons_top_share)
    with open_warehouse(get_settings()) as warehouse:
        population = count_scoring_rows(warehouse, score_date) if share > 0 else None
        frames = stream_scoring_frames(warehouse, score_date, chunk_rows)
        result = score_to_file(
            frames,
            model,
            champion.model_version,
            score_date,
            run_id,
            path,
            num_threads,
            reasons_top_share=share,
            population=population,
        )
    get_run_logger().info(
        "Scored %d employees for %s with %s (mean risk %.3f, %d at or above %.1f)",
        result.rows,
        score_date,
        champion.model_version,
        result.stats["mean"],
        result.stats["high_risk"],
        HIGH_RISK,
    )
    return result
