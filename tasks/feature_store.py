"""Feature snapshots: the survey features of one feature month, computed once, in the warehouse.

A score date's features are those of its feature month (the last complete survey month), which
changes once a month while scoring runs every night. Aggregating six months of survey rows is
the most expensive query of a night (about 6 s of the warehouse's time for 1,000,000 employees
on a 2-core PostgreSQL), so it runs once per feature month, inside the warehouse (INSERT …
SELECT: no row leaves it), into `employee_features`; each night reads it joined to `employees`.

Every night a fingerprint of the window's source rows (taken in the source checks' one pass,
tasks/sql/source_profile.sql) is compared with the one stored in `feature_snapshots`. When the
rows changed (a late answer, a corrected score, a reload), or the feature SQL did (an upgrade:
the stored key includes a digest of it), the snapshot is rebuilt before scoring: duplicate-key
check, then lock, delete, insert, count, record, in one transaction per feature month, so
readers see the old snapshot or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd

from tasks.contract import check_frame
from tasks.dates import feature_month_for, feature_params, scoring_params
from tasks.errors import WarehouseError
from tasks.features import feature_sql
from tasks.source_checks import (
    SourceWindow,
    check_duplicate_keys,
    fingerprint_of,
    profile_source,
)
from tasks.source_issues import issues_recorded
from tasks.warehouse import Transaction, Warehouse, friendly_errors

TABLE = "employee_features"
RECORDS = "feature_snapshots"
# Every table a build transaction touches, locked first, always in this order: AWS's advice
# for serializable isolation ("lock all tables first, in the same order"), which also keeps
# two builds from deadlocking on each other's locks.
BUILD_LOCKS = (TABLE, RECORDS)


@dataclass(frozen=True)
class FeatureSnapshot:
    feature_month: date
    employees: int
    built: bool  # True when this call (re)built it; False when the stored one was current
    seconds: float
    warning: str | None = None  # e.g. statistics not refreshed (the snapshot is committed)


def source_fingerprint(warehouse: Warehouse, score_date: date) -> str:
    """What the features of `score_date`'s feature month are computed from, summarised
    (source_profile.sql: one pass, aggregates only)."""
    return fingerprint_of(profile_source(warehouse, SourceWindow.for_scoring(score_date)))


def snapshot_key(build_sql: str, fingerprint: str) -> str:
    """What a stored snapshot is current for (kept in feature_snapshots.source_fingerprint):
    the source rows' fingerprint and the SQL that computed the features from them, so a
    changed feature definition (an upgrade) rebuilds the month although its rows are the same."""
    return f"sql:{hashlib.sha256(build_sql.encode('utf-8')).hexdigest()[:12]}|{fingerprint}"


def snapshot_build_sql(warehouse: Warehouse) -> str:
    """The INSERT … SELECT that computes a month's features (its digest is in the key)."""
    return warehouse.sql("feature_snapshot_insert", **feature_sql(warehouse))


def _stored(source: Warehouse | Transaction, feature_month: date) -> dict | None:
    """The stored snapshot record of a month (read on its own, or inside a transaction)."""
    rows = source.fetch("feature_snapshot_read", {"feature_month": feature_month})
    return dict(rows[0]) if rows else None


def prepare_features(
    warehouse: Warehouse,
    score_date: date,
    flow_run_id: str | None = None,
    fingerprint: str | None = None,
) -> FeatureSnapshot:
    """Make `employee_features` hold the current features of `score_date`'s feature month.
    `fingerprint`: the source rows' fingerprint if the caller has just profiled them (the
    check-source-data task has), saving a pass over them."""
    started = time.perf_counter()
    month = feature_month_for(score_date)
    with friendly_errors("prepare features"):
        if fingerprint is None:
            fingerprint = source_fingerprint(warehouse, score_date)
        build_sql = snapshot_build_sql(warehouse)
        key = snapshot_key(build_sql, fingerprint)
        stored = _stored(warehouse, month)
        if stored and stored["source_fingerprint"] == key:
            return FeatureSnapshot(month, int(stored["n_employees"]), False, _since(started))
        check_duplicate_keys(warehouse, SourceWindow.for_scoring(score_date))
        employees, built = _build(warehouse, month, key, flow_run_id)
        warning = warehouse.analyze(TABLE) if built else None
    return FeatureSnapshot(month, employees, built, _since(started), warning)


def _build(
    warehouse: Warehouse, month: date, key: str, flow_run_id: str | None
) -> tuple[int, bool]:
    """One transaction: lock the month (in both tables the build touches, before anything
    else), delete it, insert it, count it, record it. Returns the employees stored and whether
    this call built them (a concurrent run, e.g. two backfill dates of one month, may have
    built the same snapshot while this one waited for the lock)."""
    params = feature_params(month)
    with warehouse.transaction() as tx:
        for table in BUILD_LOCKS:
            tx.lock_partition(table, month.isoformat())
        stored = _stored(tx, month)
        if stored and stored["source_fingerprint"] == key:
            return int(stored["n_employees"]), False
        tx.execute_script("feature_snapshot_delete", {"feature_month": month})
        # the statement snapshot_build_sql renders (its digest is in `key`)
        tx.execute("feature_snapshot_insert", params, **feature_sql(warehouse))
        count = tx.fetch("feature_snapshot_count", {"feature_month": month})
        employees = int(count[0]["n"])
        tx.execute(
            "feature_snapshot_record",
            {
                "feature_month": month,
                "source_fingerprint": key,
                "n_employees": employees,
                "built_at": datetime.now(UTC).replace(tzinfo=None),
                "flow_run_id": flow_run_id,
            },
        )
    return employees, True


def forget_features(warehouse: Warehouse) -> None:
    """Drop every snapshot in one transaction; the next prepare_features rebuilds its month."""
    with friendly_errors("forget features"), warehouse.transaction() as tx:
        tx.execute_script("feature_snapshot_clear")


def stream_scoring_frames(
    warehouse: Warehouse, score_date: date, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Feature rows of every employee active on `score_date`, in checked chunks: the feature
    month's snapshot (prepare_features builds it) joined to the employees."""
    params = scoring_params(score_date)
    if _stored(warehouse, params["feature_month"]) is None:
        raise WarehouseError(
            f"features of {params['feature_month']:%Y-%m} are not prepared in "
            f"{warehouse.qualified(TABLE)}: run prepare_features first"
        )
    with issues_recorded(warehouse):
        for frame in warehouse.stream("scoring_frame", params, chunk_rows):
            if not frame.empty:
                yield check_frame(frame, "scoring frame", labelled=False)


def count_scoring_rows(warehouse: Warehouse, score_date: date) -> int:
    """How many rows stream_scoring_frames will yield for `score_date` (the scoring frame's own
    SQL, counted in the warehouse): the night's population, known before it streams."""
    sql = warehouse.sql("scoring_frame")
    with friendly_errors("count the scoring frame"):
        rows = warehouse.fetch("scoring_count", scoring_params(score_date), scoring_frame=sql)
    return int(rows[0]["population"])


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
