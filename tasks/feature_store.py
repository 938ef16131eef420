"""Feature snapshots: the survey features of one feature month, computed once, in the warehouse.

A score date's features are those of its feature month (the last complete survey month), which
changes once a month while scoring runs every night. Aggregating six months of survey rows is
the most expensive query of a night (about 6 s of the warehouse's time for 1,000,000 employees
on a 2-core PostgreSQL), so it runs once per feature month, inside the warehouse (INSERT …
SELECT: no row leaves it), into `employee_features`; each night reads it joined to `employees`.

Every night a one-pass fingerprint of the window's source rows (source_fingerprint.sql) is
compared with the one stored in `feature_snapshots`. When the rows changed (a late answer, a
corrected score, a reload) the snapshot is rebuilt before scoring: duplicate-key check, then
lock, delete, insert, count, record, in one transaction per feature month, so readers see the
old snapshot or the new one, never half of one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.dates import feature_month_for
from tasks.features import HISTORY_MONTHS, feature_params, feature_sql
from tasks.retries import IO_RETRIES
from tasks.source_checks import SourceWindow, check_duplicate_keys
from tasks.warehouse import Warehouse, friendly_errors, open_warehouse

TABLE = "employee_features"


@dataclass(frozen=True)
class FeatureSnapshot:
    feature_month: date
    employees: int
    built: bool  # True when this call (re)built it; False when the stored one was current
    seconds: float


def source_fingerprint(warehouse: Warehouse, feature_month: date) -> str:
    """What the month's features are computed from, summarised (one pass, aggregates only)."""
    params = feature_params(feature_month)
    window = {k: params[k] for k in ("data_start_month", "data_end_month")}
    row = warehouse.read("source_fingerprint", window).iloc[0]
    return "|".join(_plain(value) for value in row)


def _plain(value: object) -> str:
    # Drivers return these sums as int, Decimal or float (the same whole number): one spelling.
    if value is None or value != value:  # NULL / NaN / NaT
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _stored(warehouse: Warehouse, conn: sa.Connection, feature_month: date) -> dict | None:
    rows = warehouse.fetch(conn, "feature_snapshot_read", {"feature_month": feature_month})
    return dict(rows[0]) if rows else None


def prepare_features(
    warehouse: Warehouse, score_date: date, flow_run_id: str | None = None
) -> FeatureSnapshot:
    """Make `employee_features` hold the current features of `score_date`'s feature month."""
    started = time.perf_counter()
    month = feature_month_for(score_date)
    with friendly_errors("prepare features"):
        fingerprint = source_fingerprint(warehouse, month)
        with warehouse.engine.connect() as conn:
            stored = _stored(warehouse, conn, month)
        if stored and stored["source_fingerprint"] == fingerprint:
            return FeatureSnapshot(month, int(stored["n_employees"]), False, _since(started))
        check_duplicate_keys(warehouse, SourceWindow.for_scoring(score_date))
        employees = _build(warehouse, month, fingerprint, flow_run_id)
        warehouse.analyze(TABLE)
    return FeatureSnapshot(month, employees, True, _since(started))


def _build(warehouse: Warehouse, month: date, fingerprint: str, flow_run_id: str | None) -> int:
    """One transaction: lock the month, delete it, insert it, count it, record it."""
    params = feature_params(month)
    insert = warehouse.sql("feature_snapshot_insert", **feature_sql(warehouse))
    with warehouse.engine.begin() as conn:
        warehouse.lock_partition(conn, TABLE, month.isoformat())
        stored = _stored(warehouse, conn, month)
        if stored and stored["source_fingerprint"] == fingerprint:
            return int(stored["n_employees"])  # built by a concurrent run while we waited
        warehouse.execute_script(conn, "feature_snapshot_delete", {"feature_month": month})
        conn.execute(sa.text(insert), params)
        count = warehouse.fetch(conn, "feature_snapshot_count", {"feature_month": month})
        employees = int(count[0]["n"])
        warehouse.execute(
            conn,
            "feature_snapshot_record",
            {
                "feature_month": month,
                "source_fingerprint": fingerprint,
                "n_employees": employees,
                "built_at": datetime.now(UTC).replace(tzinfo=None),
                "flow_run_id": flow_run_id,
            },
        )
    return employees


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


@task(name="prepare-features", cache_policy=NONE, **IO_RETRIES)
def prepare_features_task(score_date: date) -> FeatureSnapshot:
    from prefect.runtime import flow_run

    with open_warehouse() as warehouse:
        snapshot = prepare_features(warehouse, score_date, flow_run.id)
    get_run_logger().info(
        "Features of %s for %d employees: %s in %.1f s (%d months of survey rows)",
        snapshot.feature_month.strftime("%Y-%m"),
        snapshot.employees,
        "rebuilt from changed source rows" if snapshot.built else "snapshot current",
        snapshot.seconds,
        HISTORY_MONTHS,
    )
    return snapshot
