"""Extraction of the training frame (SQL in tasks/sql/); the months it covers come from the
calendar (tasks/dates.py: TrainingWindow), scoring frames from the feature store
(tasks/feature_store.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from tasks.contract import check_frame
from tasks.dates import HISTORY_MONTHS, TrainingWindow
from tasks.errors import DataContractError, WarehouseError
from tasks.source_issues import issues_recorded
from tasks.training_data import TRAINING_ORDER, TrainingData
from tasks.warehouse import SOURCE_TABLES, Warehouse

__all__ = [
    "HISTORY_MONTHS",  # the calendar's, re-exported for callers of this module
    "TrainingWindow",
    "extract_training_frame",
    "feature_sql",
    "require_source_tables",
]


def feature_sql(warehouse: Warehouse) -> dict[str, str]:
    """The shared CTE bodies that training_frame.sql, feature_snapshot_insert.sql and
    model_performance_insert.sql include."""
    names = ("monthly", "features", "current_features", "labelled_rows")
    return {name: warehouse.sql(name) for name in names}


def require_source_tables(warehouse: Warehouse) -> None:
    """Fail before anything is written when a source table is missing."""
    for table in SOURCE_TABLES:
        if not warehouse.table_exists(table):
            raise WarehouseError(
                f"source table {warehouse.qualified(table)} is missing in {warehouse.where()}: "
                "run `pulsewatch demo-data` locally, or set PULSEWATCH_SCHEMA"
            )


def extract_training_frame(warehouse: Warehouse, window: TrainingWindow) -> pd.DataFrame:
    """Labelled feature rows for the window, checked against the data contract."""
    frame = warehouse.read("training_frame", window.params(), **feature_sql(warehouse))
    if frame.empty:
        raise DataContractError(_empty_message(warehouse, window))
    # the query's order, which Redshift's parallel UNLOAD does not keep across its files
    frame = frame.sort_values(TRAINING_ORDER, kind="stable", ignore_index=True)
    with issues_recorded(warehouse):
        return check_frame(frame, "training frame", labelled=True)


def stream_training_frames(
    warehouse: Warehouse, window: TrainingWindow, chunk_rows: int = 100_000
) -> Iterator[pd.DataFrame]:
    """Labelled feature rows for the window in unchecked batches (TrainingData checks them)."""
    return warehouse.stream("training_frame", window.params(), chunk_rows, **feature_sql(warehouse))


def extract_training_data(
    warehouse: Warehouse, window: TrainingWindow, work_dir: str
) -> TrainingData:
    """Labelled feature rows for the window, checked batch by batch and spilled under
    `work_dir`: the streamed counterpart of extract_training_frame."""
    frames = stream_training_frames(warehouse, window)
    with issues_recorded(warehouse):
        return TrainingData.from_frames(frames, work_dir, empty=_empty_message(warehouse, window))


def _empty_message(warehouse: Warehouse, window: TrainingWindow) -> str:
    return (
        f"training frame is empty: no survey rows for months {window.first_month} to "
        f"{window.last_month} in {warehouse.qualified('survey_responses')}"
    )
