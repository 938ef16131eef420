"""Assertions on the hand-made warehouse, shared by the DuckDB and PostgreSQL tests."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.errors import DataContractError, WarehouseError
from tasks.feature_store import (
    forget_features,
    prepare_features,
    snapshot_build_sql,
    snapshot_key,
    source_fingerprint,
    stream_scoring_frames,
)
from tasks.features import TrainingWindow, extract_training_frame
from tasks.registry import ensure_result_tables
from tasks.warehouse import Warehouse
from tests.support import sql_cases


def scoring_frame(
    warehouse: Warehouse, day: date, chunk_rows: int = 100, *, prepare: bool = True
) -> pd.DataFrame:
    """The scoring frame as the score flow reads it (features prepared first unless `prepare`
    is False: then from whatever snapshot is stored), ordered by employee."""
    if prepare:
        ensure_result_tables(warehouse)
        prepare_features(warehouse, day)
    frame = pd.concat(stream_scoring_frames(warehouse, day, chunk_rows))
    return frame.sort_values("employee_id").reset_index(drop=True)


def _row(frame: pd.DataFrame, employee: int, month: str) -> pd.Series:
    hit = frame[(frame.employee_id == employee) & (frame.feature_month == pd.Timestamp(month))]
    assert len(hit) == 1, f"expected one row for {employee} {month}, got {len(hit)}"
    return hit.iloc[0]


def check_training_frame(warehouse: Warehouse) -> None:
    sql_cases.load(warehouse)
    frame = extract_training_frame(warehouse, TrainingWindow.ending(sql_cases.TRAIN_END, 5))
    # employee 1: Jan..May; employee 2: Jan..Apr (Apr kept: the leave is observable)
    assert sorted(frame.groupby("employee_id").size().items()) == [(1, 5), (2, 4)]

    labels = {
        (e, m.strftime("%Y-%m")): int(v)
        for e, m, v in frame[["employee_id", "feature_month", "label"]].itertuples(index=False)
    }
    assert labels == {
        (1, "2026-01"): 0,  # Feb mean 8 is not <= 8 - 2
        (1, "2026-02"): 1,  # Mar mean 6 <= 8 - 2
        (1, "2026-03"): 1,  # skips April
        (1, "2026-04"): 1,  # May 4.5 <= mean(8, 6) - 2 = 5
        (1, "2026-05"): 1,  # Jun 3 <= mean(6, 4.5) - 2 = 3.25
        (2, "2026-01"): 0,
        (2, "2026-02"): 0,
        (2, "2026-03"): 1,  # leaves 2026-04-20, before May
        (2, "2026-04"): 1,  # no May row; the leave (before 2026-06-01) is the outcome
    }

    march = _row(frame, 1, "2026-03-01")
    assert march.mean_score == 6.0
    assert math.isclose(march.mean_3m, 22 / 3)
    assert march.delta_1m == -2.0
    assert math.isnan(march.delta_3m)
    assert math.isclose(march.volatility_6m, math.sqrt(4 / 3))
    assert march.min_mean_3m == 6.0
    assert march.tenure_months == 74.0  # 2020-01 -> 2026-03
    assert march.department == "Sales"

    april = _row(frame, 1, "2026-04-01")
    assert math.isnan(april.mean_score) and april.answered == 0.0
    assert april.mean_3m == 7.0
    assert april.response_rate_6m == 0.75

    may = _row(frame, 1, "2026-05-01")
    assert may.mean_score == 4.5
    assert may.mean_3m == 5.25
    assert math.isnan(may.delta_1m)
    assert may.delta_3m == -3.5
    assert may.work_score == 4.0 and math.isnan(may.relationship_score)

    assert _row(frame, 2, "2026-01-01").tenure_months == 1.0


def check_scoring_frame(warehouse: Warehouse) -> None:
    sql_cases.load(warehouse)
    frame = scoring_frame(warehouse, date(2026, 6, 15), chunk_rows=1)
    # employee 2 left 2026-04-20; employee 3 joined 2026-06-01 and has no survey rows
    assert frame.employee_id.tolist() == [1, 3]
    one = frame.iloc[0]
    assert one.feature_month == pd.Timestamp("2026-05-01")
    assert one.mean_score == 4.5 and one.mean_3m == 5.25
    three = frame.iloc[1]
    assert three.department == "Engineering"
    assert three.tenure_months == 0.0
    assert math.isnan(three.mean_score) and math.isnan(three.response_rate_6m)


def check_no_leakage(warehouse: Warehouse) -> None:
    """Rewriting every survey month from the score month on changes no scoring feature."""
    sql_cases.load(warehouse)
    before = scoring_frame(warehouse, date(2026, 6, 15))
    future = sql_cases.responses()
    later = future.survey_month >= pd.Timestamp("2026-06-01")
    future.loc[later, ["work_score", "relationship_score", "health_score"]] = 0
    extra = future[future.employee_id == 1].tail(1).assign(survey_month=pd.Timestamp("2026-07-01"))
    sql_cases.load(warehouse, pd.concat([future, extra], ignore_index=True))
    forget_features(warehouse)  # recompute from the rewritten rows, not the stored snapshot
    after = scoring_frame(warehouse, date(2026, 6, 15))
    pd.testing.assert_frame_equal(before, after)


def check_current_features_match(warehouse: Warehouse) -> None:
    """current_features.sql (one GROUP BY, used for scoring) gives exactly the window features
    of features.sql (used for training) for the same month; otherwise the model would be scored
    on inputs it was not trained on."""
    from tasks.demo_data import write_demo_data
    from tests.conftest import SMALL_DEMO

    write_demo_data(warehouse, SMALL_DEMO)
    scoring = scoring_frame(warehouse, date(2026, 10, 20), 1000)  # feature month 2026-09
    # a cut-off one month later labels feature month 2026-09 with October (features unchanged)
    frame = extract_training_frame(warehouse, TrainingWindow.ending(date(2026, 11, 20), 2))
    training = frame[frame.feature_month == pd.Timestamp("2026-09-01")]
    both = scoring.merge(training, on="employee_id", suffixes=("_score", "_train"))
    assert len(both) > 300
    for column in (
        "work_score",
        "relationship_score",
        "health_score",
        "mean_score",
        "answered",
        "mean_3m",
        "mean_6m",
        "delta_1m",
        "delta_3m",
        "volatility_6m",
        "response_rate_6m",
        "min_mean_3m",
        "tenure_months",
        "department",
    ):
        pd.testing.assert_series_equal(
            both[f"{column}_score"], both[f"{column}_train"], check_names=False, rtol=1e-12
        )


def _set_score(warehouse: Warehouse, employee: int, month: str, column: str, value) -> None:
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {warehouse.qualified('survey_responses')} SET {column} = :v "
                "WHERE employee_id = :e AND survey_month = :m"
            ),
            {"v": value, "e": employee, "m": date.fromisoformat(month)},
        )


def _stored_key(warehouse: Warehouse, month: date) -> str:
    rows = warehouse.fetch("feature_snapshot_read", {"feature_month": month})
    return rows[0]["source_fingerprint"]


def _set_stored_key(warehouse: Warehouse, month: date, key: str) -> None:
    table = warehouse.qualified("feature_snapshots")
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE {table} SET source_fingerprint = :k WHERE feature_month = :m"),
            {"k": key, "m": month},
        )


def check_feature_snapshots(warehouse: Warehouse) -> None:
    """The month's snapshot is built once, reused while its source rows are unchanged, and
    rebuilt (all or nothing) when a row inside its window changes."""
    sql_cases.load(warehouse)
    ensure_result_tables(warehouse)
    forget_features(warehouse)
    day = date(2026, 6, 15)  # feature month 2026-05, window 2025-12..2026-05
    with pytest.raises(WarehouseError, match="features of 2026-05 are not prepared"):
        next(stream_scoring_frames(warehouse, day, 10))

    first = prepare_features(warehouse, day)
    # only employee 1 answered in May (2 left in April, 3 joined in June)
    assert (first.built, first.employees, first.feature_month) == (True, 1, date(2026, 5, 1))
    again = prepare_features(warehouse, day)
    assert (again.built, again.employees) == (False, 1)

    # a snapshot computed by other feature SQL (an earlier version) is rebuilt, same rows or not
    fingerprint = source_fingerprint(warehouse, day)
    build_sql = snapshot_build_sql(warehouse)
    assert _stored_key(warehouse, first.feature_month) == snapshot_key(build_sql, fingerprint)
    _set_stored_key(warehouse, first.feature_month, snapshot_key("-- older SQL", fingerprint))
    assert prepare_features(warehouse, day).built is True
    assert prepare_features(warehouse, day).built is False
    assert scoring_frame(warehouse, day).loc[0, "mean_score"] == 4.5  # employee 1, May: (4+5)/2

    # outside the window (June is after the feature month): the snapshot stays
    _set_score(warehouse, 1, "2026-06-01", "work_score", 10)
    assert prepare_features(warehouse, day).built is False

    # a corrected May score: rebuilt, and the feature follows the correction
    _set_score(warehouse, 1, "2026-05-01", "work_score", 8)
    assert prepare_features(warehouse, day).built is True
    assert scoring_frame(warehouse, day).loc[0, "mean_score"] == 6.5  # (8+5)/2

    # the same score moved to another month of the same employee: sums unchanged, key differs
    _set_score(warehouse, 1, "2026-05-01", "health_score", 6)
    _set_score(warehouse, 1, "2026-03-01", "health_score", 5)  # was 6 in March, 5 in May
    assert prepare_features(warehouse, day).built is True
    assert scoring_frame(warehouse, day).loc[0, "health_score"] == 6.0

    # a duplicate key appears: refused before anything is rebuilt; the snapshot stays as it was
    # (a rebuild would count the duplicated, unanswered April twice: response rate 4/6, not 4/5)
    assert scoring_frame(warehouse, day).loc[0, "response_rate_6m"] == 0.8
    with warehouse.engine.begin() as conn:
        survey = warehouse.qualified("survey_responses")
        conn.execute(
            sa.text(
                f"INSERT INTO {survey} SELECT * FROM {survey} "
                "WHERE employee_id = 1 AND survey_month = :m"
            ),
            {"m": date(2026, 4, 1)},
        )
    with pytest.raises(
        DataContractError, match=r"1 duplicate keys \(month=2026-04-01\); offending keys: SELECT"
    ):
        prepare_features(warehouse, day)
    kept = scoring_frame(warehouse, day, prepare=False)
    assert kept.loc[0, "response_rate_6m"] == 0.8 and kept.loc[0, "health_score"] == 6.0


def check_leave_month_boundary(warehouse: Warehouse) -> None:
    """The leave label's "left_on < feature_month + 2 months" at its edges, across a year end:
    a leave on the last day of the next month counts, one on the first day after does not."""
    extra = pd.DataFrame(
        {
            "employee_id": [2, 2],
            "survey_month": pd.to_datetime(["2025-11-01", "2025-12-01"]),
            "work_score": [9, 9],
            "relationship_score": [9, 9],
            "health_score": [9, 9],
            "answered_at": pd.to_datetime(["2025-11-03", "2025-12-03"]),
        }
    )
    survey = pd.concat([extra, sql_cases.responses()], ignore_index=True)
    for column in ("work_score", "relationship_score", "health_score"):
        survey[column] = survey[column].astype("Int16")
    sql_cases.load(warehouse, survey)
    # (left_on, training window, feature month of employee 2) -> label; scores are flat at 9,
    # so only the leave can make a label 1
    march = TrainingWindow.ending(sql_cases.TRAIN_END, 5)
    december = TrainingWindow.ending(date(2026, 2, 5), 2)  # feature months 2025-11, 2025-12
    cases = {
        (date(2026, 4, 30), march, "2026-03-01"): 1,
        (date(2026, 5, 1), march, "2026-03-01"): 0,
        (date(2026, 1, 31), december, "2025-12-01"): 1,  # Dec + 2 months = Feb 2026
        (date(2026, 2, 1), december, "2025-12-01"): 0,
    }
    employees = warehouse.qualified("employees")
    for (left_on, window, month), label in cases.items():
        with warehouse.engine.begin() as conn:
            conn.execute(
                # hired before the extra survey months (a negative tenure is refused)
                sa.text(
                    f"UPDATE {employees} SET left_on = :d, hired_on = :h WHERE employee_id = 2"
                ),
                {"d": left_on, "h": date(2025, 6, 10)},
            )
        frame = extract_training_frame(warehouse, window)
        assert int(_row(frame, 2, month).label) == label, (left_on, month)
