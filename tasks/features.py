"""Extraction of feature frames (SQL in tasks/sql/) and the month arithmetic around them.

Time rules (no leakage):
- a score date D uses the features of the *feature month* M = first day of D's month minus one
  month: the last survey month that is complete before D;
- a model trained with cut-off D learns from feature months up to M - 1 month, whose labels
  (what happened in the following month, at the latest M) are all known by D.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.contract import check_frame
from tasks.dates import add_months, feature_month_for
from tasks.errors import DataContractError, WarehouseError
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.training_data import TrainingData
from tasks.warehouse import SOURCE_TABLES, Warehouse, open_warehouse

HISTORY_MONTHS = 6  # the longest trailing window in features.sql


@dataclass(frozen=True)
class TrainingWindow:
    first_month: date  # first labelled feature month
    last_month: date  # last labelled feature month
    data_start_month: date  # first survey month read (history for trailing windows)
    data_end_month: date  # last survey month read (labels of last_month)

    @classmethod
    def ending(cls, train_end_date: date, training_months: int) -> TrainingWindow:
        if training_months < 2:
            raise ValueError("training_months must be at least 2")
        data_end = feature_month_for(train_end_date)
        last = add_months(data_end, -1)
        first = add_months(last, -(training_months - 1))
        return cls(first, last, add_months(first, -HISTORY_MONTHS), data_end)

    def params(self) -> dict[str, date]:
        return {
            "first_month": self.first_month,
            "last_month": self.last_month,
            "data_start_month": self.data_start_month,
            "data_end_month": self.data_end_month,
        }


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
        raise DataContractError(_empty_message(warehouse, window))
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
    return TrainingData.from_frames(frames, work_dir, empty=_empty_message(warehouse, window))


def _empty_message(warehouse: Warehouse, window: TrainingWindow) -> str:
    return (
        f"training frame is empty: no survey rows for months {window.first_month} to "
        f"{window.last_month} in {warehouse.qualified('survey_responses')}"
    )


def stream_scoring_frames(
    warehouse: Warehouse, score_date: date, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Feature rows of every employee active on `score_date`, in checked chunks. Reads the
    feature month's snapshot (tasks/feature_store.py: prepare_features builds it)."""
    params = scoring_params(score_date)
    with warehouse.engine.connect() as conn:
        prepared = warehouse.fetch(
            conn, "feature_snapshot_read", {"feature_month": params["feature_month"]}
        )
    if not prepared:
        raise WarehouseError(
            f"features of {params['feature_month']:%Y-%m} are not prepared in "
            f"{warehouse.qualified('employee_features')}: run prepare_features first"
        )
    for frame in warehouse.stream("scoring_frame", params, chunk_rows):
        if not frame.empty:
            yield check_frame(frame, "scoring frame", labelled=False)


def scoring_params(score_date: date) -> dict[str, date]:
    """Bound values of scoring_frame.sql for one score date."""
    return {"score_date": score_date, "feature_month": feature_month_for(score_date)}


def feature_params(feature_month: date) -> dict[str, date]:
    """Bound values of current_features.sql (with monthly.sql) for one feature month."""
    return {
        "feature_month": feature_month,
        "month_1": add_months(feature_month, -1),
        "month_2": add_months(feature_month, -2),
        "month_3": add_months(feature_month, -3),
        "data_start_month": add_months(feature_month, -(HISTORY_MONTHS - 1)),
        "data_end_month": feature_month,
    }


@task(name="extract-training-frame", persist_result=False, cache_policy=NONE, **IO_RETRIES)
def extract_training_frame_task(train_end_date: date, training_months: int) -> TrainingData:
    """The training frame, checked and spilled to the work dir (see tasks/training_data.py)."""
    window = TrainingWindow.ending(train_end_date, training_months)
    with open_warehouse() as warehouse:
        data = extract_training_data(warehouse, window, get_settings().work_dir)
    positives = sum(stats.positives for stats in data.months.values())
    get_run_logger().info(
        "Extracted %d labelled rows (%d employees, months %s..%s, positive rate %.3f)",
        data.rows,
        data.employees,
        window.first_month,
        window.last_month,
        positives / data.rows,
    )
    return data


@task(name="check-source-tables", **IO_RETRIES)
def check_source_tables_task() -> None:
    with open_warehouse() as warehouse:
        require_source_tables(warehouse)
