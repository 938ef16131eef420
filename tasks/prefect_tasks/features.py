"""Source-table checks and training-frame extraction as Prefect tasks, over the plain
functions in tasks/features.py."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.dates import TrainingWindow
from tasks.features import extract_training_data, require_source_tables
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.training_data import TrainingData
from tasks.warehouse import open_warehouse


@task(name="extract-training-frame", persist_result=False, cache_policy=NONE, **IO_RETRIES)
def extract_training_frame_task(train_end_date: date, training_months: int) -> TrainingData:
    """The training frame, checked and spilled to the work dir (see tasks/training_data.py)."""
    window = TrainingWindow.ending(train_end_date, training_months)
    settings = get_settings()
    with open_warehouse(settings) as warehouse:
        data = extract_training_data(warehouse, window, settings.work_dir)
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
    with open_warehouse(get_settings()) as warehouse:
        require_source_tables(warehouse)
