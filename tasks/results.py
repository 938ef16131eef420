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
