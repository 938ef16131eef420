"""The nightly duplicate-key count of tasks/sql/source_profile.sql (issue 15.1): one DISTINCT over
(employee_id, survey_month) packed into a BIGINT. On DuckDB, PostgreSQL and the Redshift
emulation: it counts every extra row of a duplicated key exactly for ordinary ids, it does not
overflow on ids near the BIGINT limit (they may over-count, and the exact GROUP BY of
source_checks.sql then decides), and a duplicate among those ids is still refused."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from tasks.demo_data import DemoSpec, write_demo_data
from tasks.errors import DataContractError
from tasks.source_checks import SourceWindow, check_source_data, profile_source
from tests.conftest import DEMO_END_MONTH, SCORE_DATE

pytestmark = pytest.mark.integration
SPEC = DemoSpec(employees=60, months=6, seed=11, end_month=DEMO_END_MONTH)
WINDOW = SourceWindow.for_scoring(SCORE_DATE)  # the six demo months, 2026-05..2026-10
# beyond the packed key's bound (2^52 - 1) and close to BIGINT's: employee_id * 1024 of any of
# them overflows, on every warehouse
HUGE_IDS = (2**52, 2**62, -(2**62), 2**63 - 1)


@pytest.fixture(params=["duckdb", "postgresql", "redshift"])
def source(request):
    """(the warehouse the checks read, the one the test edits the tables through)."""
    if request.param == "duckdb":
        duck = request.getfixturevalue("duck")
        return duck, duck
    pg = request.getfixturevalue("pg")
    reader = request.getfixturevalue("redshift") if request.param == "redshift" else pg
    return reader, pg


def _run(warehouse, statement: str, **params) -> None:
    sql = statement.format(s=warehouse.qualified("survey_responses"))
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _ids(warehouse, month: date) -> list[int]:
    query = f"SELECT employee_id FROM {warehouse.qualified('survey_responses')} WHERE survey_month = :m ORDER BY employee_id"
    with warehouse.engine.connect() as conn:
        return [int(v) for v in conn.execute(sa.text(query), {"m": month}).scalars()]


def _duplicate_count(reader) -> int:
    profile = profile_source(reader, WINDOW)
    counts = {int(v) for v in profile["survey_duplicate_keys"]}
    assert len(counts) == 1  # one number for the whole window, on every month's row
    return counts.pop()


COPY_ROW = "INSERT INTO {s} SELECT * FROM {s} WHERE employee_id = :v AND survey_month = :m"


def test_duplicates_counted_exactly_across_months(source):
    reader, editor = source
    write_demo_data(editor, SPEC)
    assert _duplicate_count(reader) == 0
    first, last = date(2026, 5, 1), DEMO_END_MONTH
    one, two = _ids(editor, first)[0], _ids(editor, last)[-1]
    _run(editor, COPY_ROW, v=one, m=first)  # one key twice
    _run(editor, COPY_ROW, v=two, m=last)  # another key, in another month: copied twice,
    _run(editor, COPY_ROW, v=two, m=last)  # so four rows
    # 1 + 3 extra rows; the same employees in other months are no duplicates
    assert _duplicate_count(reader) == 4
    with pytest.raises(DataContractError, match=r"2 duplicate keys"):
        check_source_data(reader, WINDOW)


def test_ids_near_the_bigint_limit_neither_overflow_nor_hide_a_duplicate(source):
    reader, editor = source
    write_demo_data(editor, SPEC)
    donor = _ids(editor, DEMO_END_MONTH)[0]
    for big in HUGE_IDS:  # every month of the window, each (id, month) once
        _run(
            editor,
            "INSERT INTO {s} (employee_id, survey_month, work_score, relationship_score, "
            "health_score, answered_at) SELECT :big, survey_month, work_score, "
            "relationship_score, health_score, answered_at FROM {s} WHERE employee_id = :v",
            big=big,
            v=donor,
        )
    assert set(HUGE_IDS) <= set(_ids(editor, DEMO_END_MONTH))
    # no "bigint out of range", and no refusal: the count is only an upper bound for these
    # ids, and the exact GROUP BY it triggers finds no duplicate
    check_source_data(reader, WINDOW)
    _run(editor, COPY_ROW, v=2**62, m=date(2026, 7, 1))
    assert _duplicate_count(reader) >= 1
    with pytest.raises(DataContractError, match=r"1 duplicate keys"):
        check_source_data(reader, WINDOW)
