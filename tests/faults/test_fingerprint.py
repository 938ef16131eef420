"""The feature snapshot's fingerprint (tasks/sql/source_profile.sql) changes under every edit of
the source rows it covers, including edits built to cancel out in a linear checksum: swapped
scores of two employees 997 ids apart, offsetting corrections (+d/-2d/+d) on three employees,
a row moved to another key. On DuckDB and PostgreSQL, with demo data.

The earlier checksum, SUM(code * MOD(employee_id, 997)) * 13 + (month + 1) * SUM(code), fails
these: the property test finds such an edit within a few examples when it is put back."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prefect.logging import disable_run_logger

from tasks.demo_data import FIRST_EMPLOYEE_ID, DemoSpec, write_demo_data
from tasks.errors import DataContractError
from tasks.feature_store import prepare_features, source_fingerprint
from tasks.prefect_tasks.source_checks import check_source_data_task
from tasks.registry import ensure_result_tables
from tasks.source_checks import SourceWindow, check_source_data
from tests.conftest import DEMO_END_MONTH, SCORE_DATE

pytestmark = pytest.mark.integration
EMPLOYEES = 1000  # ids 100001..101000: pairs 997 apart exist
SPEC = DemoSpec(employees=EMPLOYEES, months=6, seed=5, end_month=DEMO_END_MONTH)
WINDOW = SourceWindow.for_scoring(SCORE_DATE)  # the six demo months, 2026-05..2026-10
FEATURE_MONTH = DEMO_END_MONTH
SCORES = ("work_score", "relationship_score", "health_score")
COLUMNS = ("employee_id", "survey_month", *SCORES, "answered_at")


def _rows(warehouse, ids: set[int]) -> pd.DataFrame:
    table = warehouse.qualified("survey_responses")
    with warehouse.engine.connect() as conn:
        result = conn.execute(
            sa.text(
                f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE employee_id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": sorted(ids)},
        )
        return pd.DataFrame(result.fetchall(), columns=list(COLUMNS))


def _replace(warehouse, ids: set[int], rows: pd.DataFrame) -> None:
    """Replace every survey row of `ids` by `rows`, in one transaction."""
    table = warehouse.qualified("survey_responses")
    records = [
        {
            c: (None if pd.isna(v) else (int(v) if c in SCORES or c == "employee_id" else v))
            for c, v in row.items()
        }
        for row in rows.to_dict("records")
    ]
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.text(f"DELETE FROM {table} WHERE employee_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": sorted(ids)},
        )
        if records:
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} ({', '.join(COLUMNS)}) "
                    f"VALUES ({', '.join(':' + c for c in COLUMNS)})"
                ),
                records,
            )


@pytest.fixture
def demo(warehouse):
    write_demo_data(warehouse, SPEC)
    return warehouse


# ---- edits -----------------------------------------------------------------------------------
month = st.sampled_from(pd.date_range("2026-05-01", "2026-10-01", freq="MS").date.tolist())
employee = st.integers(0, EMPLOYEES - 1)
offset = st.one_of(st.just(997), st.integers(1, 999))
swap = st.tuples(st.just("swap"), month, employee, offset)
correct = st.tuples(
    st.just("correct"),
    month,
    employee,
    st.integers(1, 300),
    st.sampled_from(SCORES),
    st.sampled_from([-2, -1, 1, 2]),
)
move = st.tuples(st.just("move"), month, employee, st.sampled_from([997, 1994, 1]))
insert = st.tuples(st.just("insert"), month, employee, st.integers(1, 5000))
delete = st.tuples(st.just("delete"), month, employee)
edit = st.one_of(swap, correct, move, insert, delete)


def _apply(rows: pd.DataFrame, step: tuple) -> tuple[pd.DataFrame, set[int]]:
    """The rows after one edit (plain pandas) and the employees it touched."""
    kind, when, first = step[0], step[1], FIRST_EMPLOYEE_ID + step[2]
    out = rows.copy()
    at = lambda e: (out["employee_id"] == e) & (out["survey_month"] == when)  # noqa: E731
    if kind == "swap":
        other = first + step[3]
        if not (at(first).any() and at(other).any()):
            return rows, set()
        a, b = (
            out.loc[at(first), list(SCORES)].to_numpy(),
            out.loc[at(other), list(SCORES)].to_numpy(),
        )
        out.loc[at(first), list(SCORES)], out.loc[at(other), list(SCORES)] = b, a
        return out, {first, other}
    if kind == "correct":  # +d, -2d, +d on three employees `gap` ids apart: linear sums cancel
        gap, column, d = step[3], step[4], step[5]
        people = [first, first + gap, first + 2 * gap]
        for person, change in zip(people, (d, -2 * d, d), strict=True):
            value = out.loc[at(person), column]
            if value.empty or value.isna().any() or not 0 <= int(value.iloc[0]) + change <= 10:
                return rows, set()
            out.loc[at(person), column] = int(value.iloc[0]) + change
        return out, set(people)
    if kind in ("move", "insert"):
        if not at(first).any():
            return rows, set()
        target = first + step[3]
        if kind == "move":
            out.loc[at(first), "employee_id"] = target
            return out, {first, target}
        copy = out.loc[at(first)].assign(employee_id=target)
        return pd.concat([out, copy], ignore_index=True), {first, target}
    return out.loc[~at(first)], {first}  # delete


def _touched(step: tuple) -> set[int]:
    """The employees whose rows an edit may change."""
    first = FIRST_EMPLOYEE_ID + step[2]
    if step[0] == "correct":
        return {first, first + step[3], first + 2 * step[3]}
    return {first, first + step[3]} if step[0] in ("swap", "move", "insert") else {first}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """The same multiset of rows (NULLs equal to NULLs)."""
    key = list(COLUMNS)
    return bool(a.sort_values(key).to_csv(index=False) == b.sort_values(key).to_csv(index=False))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(edit, min_size=1, max_size=3))
def test_no_edit_of_the_rows_leaves_the_fingerprint_unchanged(demo, edits):
    before = source_fingerprint(demo, SCORE_DATE)
    touched = set().union(*(_touched(step) for step in edits))
    original = _rows(demo, touched)
    edited = original
    for step in edits:
        edited, _ = _apply(edited, step)
    assume(not _same(original, edited))
    _replace(demo, touched, edited)
    try:
        assert source_fingerprint(demo, SCORE_DATE) != before, f"edits {edits} left it unchanged"
    finally:
        _replace(demo, touched, original)
    assert source_fingerprint(demo, SCORE_DATE) == before  # restored: the same rows, same key


def _pair_997_apart(warehouse) -> tuple[int, int]:
    """Two employees 997 ids apart, both answered in the feature month with different scores."""
    rows = _rows(warehouse, {FIRST_EMPLOYEE_ID + i for i in range(EMPLOYEES)})
    month = rows[rows["survey_month"] == FEATURE_MONTH].set_index("employee_id")[list(SCORES)]
    return next(
        (a, a + 997)
        for a in month.index
        if a + 997 in month.index
        and month.loc[a].notna().all()
        and not month.loc[a].equals(month.loc[a + 997])
    )


def test_swapped_scores_of_employees_997_apart_rebuild_the_snapshot(demo):
    """The adversarial case found on main: it was 'snapshot current', stale features scored."""
    ensure_result_tables(demo)
    assert prepare_features(demo, SCORE_DATE).built is True
    assert prepare_features(demo, SCORE_DATE).built is False
    a, b = _pair_997_apart(demo)
    rows = _rows(demo, {a, b})
    swapped, _ = _apply(rows, ("swap", FEATURE_MONTH, a - FIRST_EMPLOYEE_ID, b - a))
    _replace(demo, {a, b}, swapped)
    check_source_data(demo, WINDOW)  # still clean data
    assert prepare_features(demo, SCORE_DATE).built is True


def test_offsetting_corrections_rebuild_the_snapshot(demo):
    """+2 / -4 / +2 on three employees' work_score (ids in arithmetic progression): every sum of
    the scores, and the weighted checksum, stay the same."""
    ensure_result_tables(demo)
    assert prepare_features(demo, SCORE_DATE).built is True
    rows = _rows(demo, {FIRST_EMPLOYEE_ID + i for i in range(EMPLOYEES)})
    for first in range(EMPLOYEES - 2):
        step = ("correct", FEATURE_MONTH, first, 1, "work_score", 2)
        edited, touched = _apply(rows, step)
        if touched:
            break
    _replace(demo, touched, edited[edited["employee_id"].isin(touched)])
    check_source_data(demo, WINDOW)
    assert prepare_features(demo, SCORE_DATE).built is True


def test_a_row_moved_onto_another_employees_key_is_refused_every_night(demo):
    """Moving a row to employee_id + 997 makes a duplicate (employee, month) key; the nightly
    check finds it although the snapshot would otherwise not be rebuilt."""
    ensure_result_tables(demo)
    fingerprint = check_source_data(demo, WINDOW)
    prepare_features(demo, SCORE_DATE, fingerprint=fingerprint)
    a, b = _pair_997_apart(demo)
    moved, touched = _apply(
        _rows(demo, {a, b}), ("move", FEATURE_MONTH, a - FIRST_EMPLOYEE_ID, 997)
    )
    _replace(demo, touched, moved)
    with pytest.raises(DataContractError, match=r"1 duplicate keys"), disable_run_logger():
        check_source_data_task.fn(SCORE_DATE)  # what a scoring night runs


def test_fingerprint_is_the_same_number_on_duckdb_and_postgresql(duck, pg):
    """One SQL on two warehouses: the same rows give the same fingerprint."""
    spec = DemoSpec(employees=50, months=6, seed=9, end_month=DEMO_END_MONTH)
    for warehouse in (duck, pg):
        write_demo_data(warehouse, spec)
    assert source_fingerprint(duck, SCORE_DATE) == source_fingerprint(pg, SCORE_DATE)


# ---- the row hash, recomputed in Python -------------------------------------------------------
# (p, q, A, B, C, D, K) of variants a and b, as in tasks/sql/source_profile.sql
VARIANTS = {
    "fp_hash_a": (2147483647, 2147483629, 270664044, 97069887, 1924330103, 376555665, 1891991589),
    "fp_hash_b": (2147483587, 2147483579, 667386050, 583085001, 665327023, 184853931, 1168139330),
}
EXTREMES = [  # (employee_id, work, relationship, health, answered_at): no product may overflow
    (9223372036854775807, 10, 0, None, datetime(2150, 12, 31, 23, 59, 59, 999999)),
    (-9223372036854775807, None, None, None, None),
    (2147483647 + 100001, 0, 10, 5, datetime(1960, 1, 1, 0, 0, 0, 1)),
    (100001, 10, 10, 10, datetime(2026, 8, 3, 12, 0, 0, 123456)),
]


def _mod(a: int, b: int) -> int:
    """SQL's MOD on all three warehouses: the sign of the dividend (truncating division)."""
    return abs(a) % b if a >= 0 else -(abs(a) % b)


def _row_hash(variant: tuple[int, ...], row: tuple) -> int:
    p, q, a, b, c, d, k = variant
    employee_id, work, relationship, health, answered_at = row
    codes = [10001 if v is None else v * 1000 for v in (work, relationship, health)]
    t = -1 if answered_at is None else (answered_at - datetime(1970, 1, 1)) // pd.Timedelta(1, "us")
    i = _mod(employee_id, p)
    u = _mod(_mod(i * a + b, q) * _mod(i * c + d, q), p)
    w = _mod((codes[0] + 10003 * codes[1]) * k + codes[2], p)
    w = _mod(_mod(w * k + _mod(t, q), p) * k + t, p)
    return _mod(u * w, p)


def test_row_hash_is_exact_integer_arithmetic_even_at_extreme_values(warehouse):
    """Extreme keys (+-2^63), dates before 1970 and after 2100, NULLs: the profile's hash sums are
    the integers a Python reference computes (no overflow, the same MOD on every warehouse)."""
    from tasks.source_checks import profile_source

    table = warehouse.qualified("survey_responses")
    write_demo_data(warehouse, DemoSpec(employees=1, months=2, seed=1, end_month=DEMO_END_MONTH))
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(
            sa.text(f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES (:e, :m, :w, :r, :h, :t)"),
            [
                {"e": e, "m": DEMO_END_MONTH, "w": w, "r": r, "h": h, "t": t}
                for e, w, r, h, t in EXTREMES
            ],
        )
    profile = profile_source(warehouse, WINDOW, SCORE_DATE)
    month = profile[profile["fp_rows"].notna()].iloc[0]
    assert int(month["fp_rows"]) == len(EXTREMES)
    for column, variant in VARIANTS.items():
        expected = _mod(sum(_row_hash(variant, row) for row in EXTREMES), 2**62)
        assert int(month[column]) == expected, column
    assert date.fromisoformat(str(pd.Timestamp(month["survey_month"]).date())) == DEMO_END_MONTH
