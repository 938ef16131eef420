"""Writing results: condition_scores and score_reasons, one score_date per transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.scoring import ScoreFile
from tasks.warehouse import PartitionPart, Warehouse, friendly_errors

BATCH_ROWS = 100_000


def _batches(path: str) -> Iterator[pa.RecordBatch]:
    # Arrow straight from the file to the writer: no pandas round trip.
    yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)


def load_scores(warehouse: Warehouse, scores: ScoreFile) -> int:
    """Replace the score_date's rows of condition_scores and score_reasons with the files' rows,
    in one transaction: lock, delete, insert, verify counts, commit. The date's reasons are
    replaced even when there are none (they explained the scores being replaced). The reasons
    may still be being explained (tasks/scoring.py): condition_scores loads meanwhile, and
    score_reasons waits for them; an error explaining them fails the load like any other. A
    failure anywhere leaves both tables' previous rows of that date untouched."""

    def reasons() -> Iterator[pa.RecordBatch]:
        explained = scores.explained()
        if explained is not None and explained.path:
            yield from _batches(explained.path)

    def reasons_rows() -> int:
        explained = scores.explained()
        return explained.rows if explained is not None else 0

    written = warehouse.replace_partitions(
        "score_date",
        scores.score_date,
        [
            PartitionPart("condition_scores", _batches(scores.path), scores.rows),
            PartitionPart("score_reasons", reasons(), reasons_rows),
        ],
    )
    return written["condition_scores"]


def remove_files(scores: ScoreFile) -> None:
    """The night's work files (scores and reasons): row data, removed once loaded or given up.
    Waits for reasons still being explained, so their file cannot appear afterwards (an
    explanation that failed has removed its own file)."""
    Path(scores.path).unlink(missing_ok=True)
    if scores.reasons is not None and scores.reasons.exception() is None:
        path = scores.reasons.result().path
        if path:
            Path(path).unlink(missing_ok=True)


def scored_dates(warehouse: Warehouse, start: date, end: date) -> set[date]:
    with friendly_errors("read condition_scores"):
        frame = warehouse.read("scored_dates", {"start_date": start, "end_date": end})
    return {pd.Timestamp(value).date() for value in frame["score_date"]}
