"""Model health over time: realized performance of past scores and tonight's drift.

- model_performance: a score date D's scores predict D's own month (the month after its feature
  month M); once that month's survey is complete (tasks/dates.py: last_evaluable_score_date),
  the scores are joined with the training label (labelled_rows.sql) and the metrics computed
  inside the warehouse (model_performance_insert.sql): only aggregates are written or read.
  One transaction per feature month: lock, delete the month's pending score dates, insert.
- model_drift: the PSI of each numeric feature and of the risk score, counted while scoring
  streamed tonight's population (tasks/scoring.py, tasks/drift.py), replaced per score date.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from tasks.dates import feature_month_for, label_window, last_evaluable_score_date
from tasks.features import feature_sql
from tasks.warehouse import Warehouse, friendly_errors

LOOKBACK_DAYS = 120  # how far back unevaluated score dates are looked for each night
TABLE = "model_performance"


@dataclass(frozen=True)
class Evaluation:
    """What one night evaluated (aggregates only)."""

    score_dates: list[date]
    auc: dict[date, float | None]  # per score date (of its first model version)


def pending_score_dates(
    warehouse: Warehouse, tonight: date, lookback_days: int = LOOKBACK_DAYS
) -> list[date]:
    """Scored dates whose labels are known tonight and that are not evaluated yet (or were
    scored again since they were)."""
    last = last_evaluable_score_date(tonight)
    params = {"first_score_date": last - timedelta(days=lookback_days), "last_score_date": last}
    with friendly_errors("read model_performance"):
        rows = warehouse.fetch("model_performance_pending", params)
    return [pd.Timestamp(row["score_date"]).date() for row in rows]


def evaluate_score_dates(
    warehouse: Warehouse, score_dates: list[date], computed_at: datetime | None = None
) -> Evaluation:
    """Compute and store the realized metrics of `score_dates`: one transaction per feature
    month (lock it, delete its rows from the first to the last of its dates, insert), so a
    retry or a second run replaces rows instead of adding them."""
    stamp = computed_at or datetime.now(UTC).replace(tzinfo=None)
    by_month: dict[date, list[date]] = defaultdict(list)
    for day in score_dates:
        by_month[feature_month_for(day)].append(day)
    fragments = feature_sql(warehouse)
    for month, days in sorted(by_month.items()):
        bounds = {"first_score_date": min(days), "last_score_date": max(days)}
        params = {**label_window(month).params(), **bounds, "computed_at": stamp}
        with friendly_errors(f"write {TABLE}"), warehouse.transaction() as tx:
            tx.lock_partition(TABLE, month)
            tx.execute("model_performance_delete", bounds)
            tx.execute("model_performance_insert", params, **fragments)
    auc: dict[date, float | None] = {}
    if score_dates:
        bounds = {"first_score_date": min(score_dates), "last_score_date": max(score_dates)}
        for row in warehouse.fetch("model_performance_read", bounds):
            if row["metric"] == "auc":
                day = pd.Timestamp(row["score_date"]).date()
                auc.setdefault(day, None if row["value"] is None else float(row["value"]))
    return Evaluation(sorted(score_dates), auc)


def evaluate_past_scores(
    warehouse: Warehouse, tonight: date, lookback_days: int = LOOKBACK_DAYS
) -> Evaluation:
    return evaluate_score_dates(warehouse, pending_score_dates(warehouse, tonight, lookback_days))


def drift_frame(score_date: date, model_version: str, psi: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "score_date": [score_date] * len(psi),
            "model_version": [model_version] * len(psi),
            "feature": list(psi),
            "psi": [float(v) for v in psi.values()],
        }
    )


def write_drift(
    warehouse: Warehouse, score_date: date, model_version: str, psi: dict[str, float]
) -> int:
    """Replace the score date's rows of model_drift (one transaction, count checked)."""
    frame = drift_frame(score_date, model_version, psi)
    return warehouse.replace_partition(
        "model_drift", "score_date", score_date, [frame], expected_rows=len(frame)
    )
