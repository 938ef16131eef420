"""The source-data contract as a Prefect task, over the plain functions in
tasks/source_checks.py."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.source_checks import MIN_ANSWERED_RATIO, SourceWindow, check_source_data
from tasks.warehouse import open_warehouse


@task(name="check-source-data", cache_policy=NONE, **IO_RETRIES)
def check_source_data_task(
    as_of: date,
    training_months: int | None = None,
    min_answered_ratio: float = MIN_ANSWERED_RATIO,
) -> str:
    """Check the months a scoring run (`training_months` None) or a training run reads, and
    return their fingerprint (aggregates only)."""
    window = (
        SourceWindow.for_training(as_of, training_months)
        if training_months is not None
        else SourceWindow.for_scoring(as_of)
    )
    with open_warehouse(get_settings()) as warehouse:
        fingerprint = check_source_data(warehouse, window, min_answered_ratio=min_answered_ratio)
    get_run_logger().info(
        "Source data passed the contract for months %s..%s", window.first_month, window.last_month
    )
    return fingerprint
