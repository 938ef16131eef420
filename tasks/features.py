"""Extraction of the training frame (SQL in tasks/sql/); the months it covers come from the
calendar (tasks/dates.py: TrainingWindow), scoring frames from the feature store
(tasks/feature_store.py)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.contract import check_frame
from tasks.dates import HISTORY_MONTHS, TrainingWindow
from tasks.errors import DataContractError, WarehouseError
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.warehouse import SOURCE_TABLES, Warehouse, open_warehouse

__all__ = [
    "HISTORY_MONTHS",  # the calendar's, re-exported for callers of this module
    "TrainingWindow",
    "extract_training_frame",
    "feature_sql",
    "require_source_tables",
]


def feature_sql(warehouse: Warehouse) -> dict[str, str]:
    """The shared CTE bodies that training_frame.sql and feature_snapshot_insert.sql include."""
    return {name: warehouse.sql(name) for name in ("monthly", "features", "current_features")}


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
        raise DataContractError(
            f"training frame is empty: no survey rows for months {window.first_month} to "
            f"{window.last_month} in {warehouse.qualified('survey_responses')}"
        )
    return check_frame(frame, "training frame", labelled=True)


@task(name="extract-training-frame", persist_result=False, cache_policy=NONE, **IO_RETRIES)
def extract_training_frame_task(train_end_date: date, training_months: int) -> pd.DataFrame:
    window = TrainingWindow.ending(train_end_date, training_months)
    with open_warehouse(get_settings()) as warehouse:
        frame = extract_training_frame(warehouse, window)
    get_run_logger().info(
        "Extracted %d labelled rows (%d employees, months %s..%s, positive rate %.3f)",
        len(frame),
        frame["employee_id"].nunique(),
        window.first_month,
        window.last_month,
        float(frame["label"].mean()),
    )
    return frame


@task(name="check-source-tables", **IO_RETRIES)
def check_source_tables_task() -> None:
    with open_warehouse(get_settings()) as warehouse:
        require_source_tables(warehouse)
