import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.demo_data import CHUNK_EMPLOYEES, DemoSpec, generate, generate_chunk, write_demo_data
from tests.conftest import DEMO_END_MONTH, SMALL_DEMO

pytestmark = pytest.mark.unit


def test_same_seed_same_data_other_seed_other_data():
    a_staff, a_rows = generate_chunk(SMALL_DEMO, 0, 300)
    b_staff, b_rows = generate_chunk(SMALL_DEMO, 0, 300)
    pd.testing.assert_frame_equal(a_rows, b_rows)
    pd.testing.assert_frame_equal(a_staff, b_staff)
    other = DemoSpec(SMALL_DEMO.employees, SMALL_DEMO.months, seed=99, end_month=DEMO_END_MONTH)
    assert not generate_chunk(other, 0, 300)[1].equals(a_rows)


def test_rows_respect_the_source_contract():
    staff, rows = generate_chunk(SMALL_DEMO, 0, SMALL_DEMO.employees)
    assert not rows.duplicated(["employee_id", "survey_month"]).any()
    scores = rows[["work_score", "relationship_score", "health_score"]]
    assert scores.min().min() >= 0 and scores.max().max() <= 10
    assert rows.survey_month.min() == pd.Timestamp("2025-07-01")
    assert rows.survey_month.max() == pd.Timestamp(DEMO_END_MONTH)
    skipped = scores.isna().all(axis=1)
    assert skipped.equals(rows.answered_at.isna())
    # a row exists exactly for the months someone is employed on the 1st
    merged = rows.merge(staff, on="employee_id")
    assert (merged.hired_on <= merged.survey_month).all()
    assert (merged.left_on.isna() | (merged.left_on > merged.survey_month)).all()
    assert 0.05 < staff.left_on.notna().mean() < 0.5
    assert staff.department.nunique() == 8


def test_chunks_have_distinct_ids_and_bounded_size():
    spec = DemoSpec(employees=CHUNK_EMPLOYEES + 5, months=3, seed=1, end_month=DEMO_END_MONTH)
    chunks = list(generate(spec))
    assert [len(staff) for staff, _ in chunks] == [CHUNK_EMPLOYEES, 5]
    ids = pd.concat([staff.employee_id for staff, _ in chunks])
    assert ids.is_unique and len(ids) == spec.employees


def test_write_replaces_earlier_demo_data(duck):
    first = write_demo_data(duck, SMALL_DEMO)
    again = write_demo_data(duck, SMALL_DEMO)
    assert first == again
    with duck.engine.connect() as conn:
        staff = conn.execute(sa.text("SELECT COUNT(*) FROM employees")).scalar()
        rows = conn.execute(sa.text("SELECT COUNT(*) FROM survey_responses")).scalar()
    assert staff == SMALL_DEMO.employees
    assert rows == first.survey_rows
