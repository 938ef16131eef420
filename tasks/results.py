"""Writing results: condition_scores and score_reasons, one score_date per transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.retries import IO_RETRIES, is_transient
from tasks.scoring import ScoreFile
from tasks.settings import get_settings
from tasks.warehouse import PartitionPart, Warehouse, friendly_errors, open_warehouse

BATCH_ROWS = 100_000


def _batches(path: str) -> Iterator[pa.RecordBatch]:
    # Arrow straight from the file to the writer: no pandas round trip.
    yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)


def load_scores(warehouse: Warehouse, scores: ScoreFile) -> int:
    """Replace the score_date's rows of condition_scores and score_reasons with the files' rows,
    in one transaction: lock, delete, insert, verify counts, commit. The date's reasons are
    replaced even when there are none (they explained the scores being replaced). A failure
    anywhere leaves both tables' previous rows of that date untouched."""
    reasons = _batches(scores.reasons_path) if scores.reasons_path else iter(())
    written = warehouse.replace_partitions(
        "score_date",
        scores.score_date,
        [
            PartitionPart("condition_scores", _batches(scores.path), scores.rows),
            PartitionPart("score_reasons", reasons, scores.reasons_rows),
        ],
    )
    return written["condition_scores"]


def remove_files(scores: ScoreFile) -> None:
    """The night's work files (scores and reasons): row data, removed once loaded or given up."""
    Path(scores.path).unlink(missing_ok=True)
    if scores.reasons_path:
        Path(scores.reasons_path).unlink(missing_ok=True)


def scored_dates(warehouse: Warehouse, start: date, end: date) -> set[date]:
    with friendly_errors("read condition_scores"):
        frame = warehouse.read("scored_dates", {"start_date": start, "end_date": end})
    return {pd.Timestamp(value).date() for value in frame["score_date"]}


def _last_attempt(error: BaseException) -> bool:
    """Whether this failure ends the task (not retried), so its score file can go."""
    from prefect.runtime import task_run

    return not is_transient(error) or task_run.run_count > int(IO_RETRIES["retries"])


@task(name="load-scores", cache_policy=NONE, **IO_RETRIES)
def load_scores_task(scores: ScoreFile) -> int:
    """Load the score and reasons files, then remove them; they are also removed when the load
    fails for good (a retry needs them), so no employee rows stay in the work dir."""
    try:
        with open_warehouse(get_settings()) as warehouse:
            warehouse.on_lock_wait = get_run_logger().warning
            written = load_scores(warehouse, scores)
    except BaseException as error:
        if not isinstance(error, Exception) or _last_attempt(error):
            remove_files(scores)
        raise
    remove_files(scores)
    get_run_logger().info("Loaded %d rows into condition_scores for %s", written, scores.score_date)
    return written
