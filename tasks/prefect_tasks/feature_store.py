"""The feature snapshot as a Prefect task, over the plain functions in tasks/feature_store.py."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.dates import HISTORY_MONTHS
from tasks.feature_store import FeatureSnapshot, prepare_features
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.warehouse import open_warehouse


@task(name="prepare-features", cache_policy=NONE, **IO_RETRIES)
def prepare_features_task(score_date: date, fingerprint: str | None = None) -> FeatureSnapshot:
    from prefect.runtime import flow_run

    with open_warehouse(get_settings()) as warehouse:
        snapshot = prepare_features(warehouse, score_date, flow_run.id, fingerprint)
    if snapshot.warning:
        get_run_logger().warning("Feature snapshot: %s", snapshot.warning)
    get_run_logger().info(
        "Features of %s for %d employees: %s in %.1f s (%d months of survey rows)",
        snapshot.feature_month.strftime("%Y-%m"),
        snapshot.employees,
        "rebuilt from changed source rows" if snapshot.built else "snapshot current",
        snapshot.seconds,
        HISTORY_MONTHS,
    )
    return snapshot
