"""Writing results: condition_scores, one score_date per transaction."""

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
from tasks.warehouse import Warehouse, friendly_errors, open_warehouse

BATCH_ROWS = 100_000


def _batches(path: str) -> Iterator[pa.RecordBatch]:
    # Arrow straight from the file to the writer: no pandas round trip.
    yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)


def load_scores(warehouse: Warehouse, scores: ScoreFile) -> int:
    """Replace the score_date's rows with the file's rows: lock, delete, insert, verify count,
    commit. A failure anywhere leaves the previous rows of that date untouched."""
    return warehouse.replace_partition(
        "condition_scores",
        "score_date",
        scores.score_date,
        _batches(scores.path),
        expected_rows=scores.rows,
    )


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
    """Load the score file, then remove it; it is also removed when the load fails for good
    (a retry needs it), so no employee scores stay in the work dir."""
    try:
        with open_warehouse(get_settings()) as warehouse:
            warehouse.on_lock_wait = get_run_logger().warning
            written = load_scores(warehouse, scores)
    except BaseException as error:
        if not isinstance(error, Exception) or _last_attempt(error):
            Path(scores.path).unlink(missing_ok=True)
        raise
    Path(scores.path).unlink(missing_ok=True)
    get_run_logger().info("Loaded %d rows into condition_scores for %s", written, scores.score_date)
    return written
