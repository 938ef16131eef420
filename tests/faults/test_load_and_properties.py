"""Scenario 9: a 24-date backfill on PostgreSQL, and property-based tests (hypothesis) of the
label rule (SQL vs a pure-Python re-implementation) and of the partition writer's idempotency."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.dates import add_months
from tasks.demo_data import write_demo_data
from tasks.features import feature_sql
from tasks.registry import ensure_result_tables
from tasks.warehouse import Warehouse, warehouse_for_url
from tests.conftest import SMALL_DEMO
from tests.support.flow_checks import active_employees, registry, score_rows
from tests.unit.test_warehouse import replace, scores, stored

MONTHS = [date(2026, m, 1) for m in range(1, 7)]  # survey months 2026-01..2026-06
PARAMS = {  # labelled feature months 2026-01..2026-05, labels from rows up to 2026-06
    "data_start_month": MONTHS[0],
    "first_month": MONTHS[0],
    "last_month": MONTHS[-2],
    "data_end_month": MONTHS[-1],
}
SURVEY_COLUMNS = [
    "employee_id",
    "survey_month",
    "work_score",
    "relationship_score",
    "health_score",
    "answered_at",
]


@pytest.mark.integration
@pytest.mark.long
def test_backfill_of_24_dates_on_postgres(pg, prefect_api):
    from flows.backfill import backfill  # here: the unit tests of this file need no Prefect

    write_demo_data(pg, SMALL_DEMO)
    start = date(2026, 11, 1)
    days = [start + timedelta(days=i) for i in range(24)]
    report = backfill(start=days[0], end=days[-1])
    assert report.done == days and report.failed == {} and report.skipped == []
    expected = 0
    for day in days:
        active = active_employees(pg, day)
        assert score_rows(pg, day) == (active, active), day
        expected += active
    table = pg.qualified("condition_scores")
    with pg.engine.connect() as conn:
        total, keys = conn.execute(
            sa.text(
                f"SELECT COUNT(*), COUNT(DISTINCT CAST(score_date AS VARCHAR) || ':' || "
                f"CAST(employee_id AS VARCHAR)) FROM {table}"
            )
        ).one()
    assert total == keys == expected > 24 * 400
    # retrained when the champion got older than max_model_age_days (8): on days 1, 10, 19
    assert sorted(registry(pg).values()) == ["champion", "retired", "retired"]

    again = backfill(start=days[0], end=days[-1])  # nothing left to do
    assert again.skipped == days and again.done == []


# ---- label rule ------------------------------------------------------------------------------

score = st.one_of(st.none(), st.integers(0, 10))
month_state = st.one_of(
    st.just("absent"),
    st.just("skipped"),
    st.tuples(score, score, score),
)
employee = st.tuples(
    st.lists(month_state, min_size=len(MONTHS), max_size=len(MONTHS)),
    st.one_of(st.none(), st.dates(date(2026, 1, 20), date(2026, 8, 10))),
)


def _mean(state) -> Fraction | None:
    if not isinstance(state, tuple):
        return None
    answered = [s for s in state if s is not None]
    return Fraction(sum(answered), len(answered)) if answered else None


def _answered(state) -> bool:
    return isinstance(state, tuple) and any(s is not None for s in state)


def expected_labels(people) -> dict[tuple[int, date], set[int]]:
    """The label rule of training_frame.sql, written again in plain Python: exact fractions,
    except on an exact tie with the 2-point threshold, which is decided in doubles as the SQL
    does. Values are sets of acceptable labels."""
    out: dict[tuple[int, date], set[int]] = {}
    for employee_id, (states, left_on) in enumerate(people, start=1):
        rows = [(m, s) for m, s in zip(MONTHS, states, strict=True) if s != "absent"]
        for i, (month, _state) in enumerate(rows):
            if month > PARAMS["last_month"]:
                continue
            leaves = left_on is not None and left_on < add_months(month, 2)
            following = rows[i + 1][1] if i + 1 < len(rows) else None
            if following is None and not leaves:
                continue  # outcome unobservable: the row is dropped
            recent = [
                m for m in (_mean(s) for _, s in rows[max(0, i - 2) : i + 1]) if m is not None
            ]
            mean_3m = sum(recent) / len(recent) if recent else None
            if leaves or (following is not None and not _answered(following)):
                labels = {1}
            elif following is not None and _mean(following) is not None and mean_3m is not None:
                gap = _mean(following) - (mean_3m - 2)
                if gap == 0:  # an exact tie: decided as the SQL computes it, in doubles
                    recent_f = [float(m) for m in recent]
                    tie = float(_mean(following)) <= sum(recent_f) / len(recent_f) - 2
                    labels = {int(tie)}
                else:
                    labels = {int(gap < 0)}
            else:
                labels = {0}
            out[(employee_id, month)] = labels
    return out


def _load(warehouse: Warehouse, people) -> None:
    employees = pd.DataFrame(
        {
            "employee_id": range(1, len(people) + 1),
            "department": "Sales",
            "hired_on": pd.Timestamp("2020-01-15"),
            "left_on": [pd.Timestamp(left) if left else pd.NaT for _, left in people],
        }
    )
    rows = []
    for employee_id, (states, _) in enumerate(people, start=1):
        for month, state in zip(MONTHS, states, strict=True):
            if state == "absent":
                continue
            w, r, h = state if isinstance(state, tuple) else (None, None, None)
            answered = pd.Timestamp(month) + pd.Timedelta(days=3) if _answered(state) else pd.NaT
            rows.append((employee_id, pd.Timestamp(month), w, r, h, answered))
    survey = pd.DataFrame(rows, columns=SURVEY_COLUMNS)
    for column in ("work_score", "relationship_score", "health_score"):
        survey[column] = survey[column].astype("Int16")
    with warehouse.transaction() as tx:
        tx.execute_script("clear_source_tables")
        tx.bulk_insert("employees", employees)
        if len(survey):
            tx.bulk_insert("survey_responses", survey)


@pytest.fixture(scope="module")
def scratch_duck():
    """One DuckDB warehouse for every example of the module, with the source and result tables
    created once (each example empties what it fills)."""
    with tempfile.TemporaryDirectory() as folder:
        warehouse = warehouse_for_url(f"duckdb:///{Path(folder) / 'labels.duckdb'}")
        with warehouse.transaction() as tx:
            tx.execute_script("create_source_tables")
        ensure_result_tables(warehouse)
        yield warehouse
        warehouse.close()


@pytest.mark.unit
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=st.lists(employee, min_size=1, max_size=4))
def test_label_rule_matches_its_plain_python_definition(scratch_duck, people):
    _load(scratch_duck, people)
    frame = scratch_duck.read("training_frame", PARAMS, **feature_sql(scratch_duck))
    got = {
        (int(e), pd.Timestamp(m).date()): int(label)
        for e, m, label in zip(frame.employee_id, frame.feature_month, frame.label, strict=True)
    }
    expected = expected_labels(people)
    assert set(got) == set(expected)  # the same rows are kept and dropped
    wrong = {key: (got[key], expected[key]) for key in got if got[key] not in expected[key]}
    assert wrong == {}


# ---- partition writer idempotency -------------------------------------------------------------

DAYS = [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
write = st.tuples(
    st.sampled_from(DAYS),
    st.sets(st.integers(0, 29), max_size=30),  # employees written (may be none)
    st.integers(1, 3),  # batches
    st.booleans(),  # the write breaks after its first batch
)


def _batches(day, ids, parts, version, breaks):
    ordered = sorted(ids)
    size = max(1, -(-len(ordered) // parts))
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)] or [[]]
    for number, chunk in enumerate(chunks):
        if breaks and number == 1:
            raise ConnectionError("connection lost mid-load")
        yield scores(day, chunk, 0.5, version)
    if breaks and len(chunks) == 1:
        raise ConnectionError("connection lost mid-load")


def _check_sequence(warehouse: Warehouse, writes) -> None:
    """From an empty condition_scores (the result tables exist), apply `writes` in turn."""
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {warehouse.qualified('condition_scores')}"))
    model: dict[date, tuple[set[int], str]] = {}
    for number, (day, ids, parts, breaks) in enumerate(writes):
        version = f"w{number}"
        try:
            written = replace(warehouse, day, _batches(day, ids, parts, version, breaks))
        except ConnectionError:
            assert breaks
        else:
            assert not breaks and written == len(ids)
            model[day] = (set(ids), version)
    for day in DAYS:
        frame = stored(warehouse, day)
        ids, version = model.get(day, (set(), None))
        assert frame.employee_id.is_unique
        assert set(frame.employee_id) == ids
        assert set(frame.model_version) == ({version} if ids else set())


@pytest.mark.unit
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=st.lists(write, min_size=1, max_size=8))
def test_partition_writes_end_as_the_last_good_write_per_date_duckdb(scratch_duck, writes):
    _check_sequence(scratch_duck, writes)


@pytest.mark.integration
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=st.lists(write, min_size=1, max_size=6))
def test_partition_writes_end_as_the_last_good_write_per_date_postgres(pg, writes):
    ensure_result_tables(pg)
    _check_sequence(pg, writes)
