"""tasks/source_checks.py (scenario 5 of the README's guarantees, bad source data): each fault is planted in otherwise clean demo data, on DuckDB and
on PostgreSQL. The contract must stop the run with one line naming the table, the column and the
offending key, and nothing may have been written."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.contract import _violation
from tasks.dates import add_months, business_today
from tasks.demo_data import DemoSpec, write_demo_data
from tasks.errors import DataContractError
from tasks.settings import get_settings
from tasks.source_checks import SourceWindow, check_source_data
from tasks.source_issues import issues_recorded
from tests.conftest import DEMO_END_MONTH, SCORE_DATE

pytestmark = pytest.mark.integration
SPEC = DemoSpec(employees=120, months=12, seed=3, end_month=DEMO_END_MONTH)
WINDOW = SourceWindow.for_scoring(SCORE_DATE)  # survey months 2026-05..2026-10
MONTH = date(2026, 8, 1)  # inside the window
FUTURE = add_months(max(SCORE_DATE, business_today()), 3)


def _run(warehouse, statement: str, **params) -> None:
    sql = statement.format(
        s=warehouse.qualified("survey_responses"), e=warehouse.qualified("employees")
    )
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _victim(warehouse) -> int:
    """The smallest employee_id with a survey row in MONTH: the key the message must name."""
    query = f"SELECT MIN(employee_id) FROM {warehouse.qualified('survey_responses')} WHERE survey_month = :m"
    with warehouse.engine.connect() as conn:
        return int(conn.execute(sa.text(query), {"m": MONTH}).scalar())


def _alter_type(warehouse, column: str, kind: str) -> None:
    _run(
        warehouse,
        f"ALTER TABLE {{s}} ALTER COLUMN {column} TYPE {kind} USING CAST({column} AS {kind})",
    )


# (fault id, statements, expected message pattern); {v} is the victim employee_id
FAULTS = [
    (
        "score_above_10",
        ["UPDATE {s} SET health_score = 11 WHERE employee_id = :v AND survey_month = :m"],
        r"^survey_responses\.health_score: 1 values outside 0-10 \(e\.g\. employee_id={v}, month=2026-08-01\)",
    ),
    (
        "negative_score",
        ["UPDATE {s} SET work_score = -1 WHERE employee_id = :v AND survey_month = :m"],
        r"^survey_responses\.work_score: 1 values outside 0-10 \(e\.g\. employee_id={v}, month=2026-08-01\)",
    ),
    (
        # 1e15 in tenths times health's weight (10,609) overflowed the fingerprint's BIGINT on
        # this one row, before the range check could name it
        "absurd_score",
        [
            "ALTER TABLE {s} ALTER COLUMN health_score TYPE DOUBLE PRECISION",
            "UPDATE {s} SET health_score = 1e15 WHERE employee_id = :v AND survey_month = :m",
        ],
        r"^survey_responses\.health_score: 1 values outside 0-10 \(e\.g\. employee_id={v}, month=2026-08-01\)",
    ),
    (
        "duplicate_key",
        ["INSERT INTO {s} SELECT * FROM {s} WHERE employee_id = :v AND survey_month = :m"],
        r"^survey_responses\.employee_id, survey_month: 1 duplicate keys \(e\.g\. employee_id={v}, month=2026-08-01\)",
    ),
    (
        "null_employee_id",
        [
            "ALTER TABLE {s} ALTER COLUMN employee_id DROP NOT NULL",
            "UPDATE {s} SET employee_id = NULL WHERE employee_id = :v AND survey_month = :m",
        ],
        r"^survey_responses\.employee_id: 1 NULL values \(e\.g\. employee_id=NULL, month=2026-08-01\)",
    ),
    (
        "future_month",
        ["UPDATE {s} SET survey_month = :future WHERE employee_id = :v AND survey_month = :m"],
        r"^survey_responses\.survey_month: 1 survey months in the future \(after [0-9-]+\) "
        r"\(e\.g\. employee_id={v}, month=" + FUTURE.isoformat() + r"\)",
    ),
    (
        "empty_month",
        ["DELETE FROM {s} WHERE survey_month = :m"],
        r"^survey_responses\.survey_month: 1 empty month\(s\) inside 2026-05\.\.2026-10 "
        r"\(e\.g\. month=2026-08-01 has no rows\)",
    ),
    (
        "last_month_not_loaded",
        ["DELETE FROM {s} WHERE survey_month = :last"],
        r"^survey_responses\.survey_month: 1 empty month\(s\) inside 2026-05\.\.2026-10 "
        r"\(e\.g\. month=2026-10-01 has no rows\)",
    ),
    (
        # a TIMESTAMP month column whose month holds a time of day: monthly.sql's date
        # comparisons dropped those rows, and the run scored without them (issue 15.2)
        "survey_month_time_of_day",
        [
            "ALTER TABLE {s} ALTER COLUMN survey_month TYPE TIMESTAMP",
            "UPDATE {s} SET survey_month = survey_month + INTERVAL '9 hours' "
            "WHERE survey_month = :m",
        ],
        r"^survey_responses\.survey_month: \d+ values with a time of day \(dates expected\) "
        r"\(e\.g\. employee_id={v}, month=2026-08-01 09:00:00\)",
    ),
    (
        # the same in the last month read: outside [first, last month] by its time, it was
        # not even seen by the checks
        "last_month_time_of_day",
        [
            "ALTER TABLE {s} ALTER COLUMN survey_month TYPE TIMESTAMP",
            "UPDATE {s} SET survey_month = survey_month + INTERVAL '9 hours' "
            "WHERE survey_month = :last AND employee_id = :v",
        ],
        r"^survey_responses\.survey_month: 1 values with a time of day \(dates expected\) "
        r"\(e\.g\. employee_id={v}, month=2026-10-01 09:00:00\)",
    ),
    (
        "hired_on_time_of_day",
        [
            "ALTER TABLE {e} ALTER COLUMN hired_on TYPE TIMESTAMP",
            "UPDATE {e} SET hired_on = hired_on + INTERVAL '30 minutes' WHERE employee_id = :v",
        ],
        r"^employees\.hired_on: 1 values with a time of day \(dates expected\) "
        r"\(e\.g\. employee_id={v}\)",
    ),
    (
        "duplicate_employee",
        ["INSERT INTO {e} SELECT * FROM {e} WHERE employee_id = :v"],
        r"^employees\.employee_id: 1 duplicate keys \(e\.g\. employee_id={v}\)",
    ),
]
TYPE_FAULTS = [
    (
        "work_score",
        "VARCHAR(8)",
        r"^survey_responses\.work_score: expected number values, found str \(e\.g\. employee_id=\d+, month=\d{{4}}-\d\d-01\)",
    ),
    (
        "survey_month",
        "VARCHAR(10)",
        r"^survey_responses\.survey_month: expected date values, found str \(e\.g\. employee_id=\d+, month='\d{{4}}-\d\d-01'\)",
    ),
    (
        "hired_on",
        "VARCHAR(10)",
        r"^employees\.hired_on: expected date values, found str \(e\.g\. employee_id=\d+\)",
    ),
]


def _issues(warehouse, message: str) -> list[tuple]:
    """The source_issues rows of the run a message names."""
    run_id = re.search(r"WHERE flow_run_id = '([^']+)'", message).group(1)
    query = (
        f"SELECT table_name, column_name, employee_id, month "
        f"FROM {warehouse.qualified('source_issues')} WHERE flow_run_id = :r"
    )
    with warehouse.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text(query), {"r": run_id}).all()]
    assert rows, f"no keys recorded for {run_id}"
    return rows


def _show_keys(monkeypatch) -> None:
    monkeypatch.setenv("PULSEWATCH_ERROR_KEYS", "show")
    get_settings.cache_clear()


@pytest.fixture
def clean(warehouse):
    write_demo_data(warehouse, SPEC)
    return warehouse


def test_clean_data_passes(clean):
    check_source_data(clean, WINDOW)
    check_source_data(clean, SourceWindow.for_training(SCORE_DATE, 6))


@pytest.mark.parametrize(("fault", "statements", "pattern"), FAULTS, ids=[f[0] for f in FAULTS])
def test_value_fault_is_refused_with_table_column_and_key(
    clean, fault, statements, pattern, monkeypatch
):
    victim = _victim(clean)
    for statement in statements:
        names = [n for n in ("v", "m", "future", "last") if f":{n}" in statement]
        values = {"v": victim, "m": MONTH, "future": FUTURE, "last": DEMO_END_MONTH}
        _run(clean, statement, **{n: values[n] for n in names})
    # by default: table, column, count and month; the keys are in source_issues
    with pytest.raises(DataContractError) as hidden:
        check_source_data(clean, WINDOW)
    message = str(hidden.value)
    assert "\n" not in message and message.endswith("the run stopped before writing anything")
    assert str(victim) not in message and "employee_id=" not in message
    if "employee_id=" in pattern:  # a problem with keys (an empty month has none)
        table_column = pattern.split(":")[0].lstrip("^").replace("\\", "")
        issues = _issues(clean, message)
        assert {f"{t}.{c}" for t, c, _, _ in issues} == {table_column}
        if "{v}" in pattern:
            assert victim in {e for _, _, e, _ in issues}
    # PULSEWATCH_ERROR_KEYS=show (a laptop): one example key in the message
    _show_keys(monkeypatch)
    with pytest.raises(DataContractError, match=pattern.format(v=victim)) as caught:
        check_source_data(clean, WINDOW)
    message = str(caught.value)
    assert "\n" not in message and message.endswith("the run stopped before writing anything")
    assert "department" not in message and "score =" not in message  # a key, not a row


@pytest.mark.parametrize(
    ("column", "kind", "pattern"), TYPE_FAULTS, ids=[t[0] for t in TYPE_FAULTS]
)
def test_column_of_the_wrong_type_is_refused(clean, column, kind, pattern, monkeypatch):
    table = "e" if column == "hired_on" else "s"
    _run(
        clean,
        f"ALTER TABLE {{{table}}} ALTER COLUMN {column} TYPE {kind} USING CAST({column} AS {kind})",
    )
    with pytest.raises(DataContractError) as hidden:
        check_source_data(clean, WINDOW)
    assert "employee_id=" not in str(hidden.value)
    issues = _issues(clean, str(hidden.value))
    assert {(t, c) for t, c, _, _ in issues} == {
        ("employees" if table == "e" else "survey_responses", column)
    }
    assert all(e is not None for _, _, e, _ in issues)
    _show_keys(monkeypatch)
    with pytest.raises(DataContractError, match=pattern.format()):
        check_source_data(clean, WINDOW)


UNANSWER = (
    "UPDATE {s} SET work_score = NULL, relationship_score = NULL, health_score = NULL, "
    "answered_at = NULL WHERE survey_month = :m"
)


def _answered_share(warehouse, month: date) -> float:
    query = (
        "SELECT AVG(CASE WHEN work_score IS NULL AND relationship_score IS NULL "
        "AND health_score IS NULL THEN 0.0 ELSE 1.0 END) "
        f"FROM {warehouse.qualified('survey_responses')} WHERE survey_month = :m"
    )
    with warehouse.engine.connect() as conn:
        return float(conn.execute(sa.text(query), {"m": month}).scalar())


def test_a_month_without_answers_is_refused(clean):
    """Every feature-month answer NULL: the rows are there, the answers are not (issue 15.3:
    it used to pass, and the night scored a mean risk of 0.43 instead of 0.11)."""
    _run(clean, UNANSWER, m=DEMO_END_MONTH)
    with pytest.raises(
        DataContractError,
        match=r"^survey_responses\.work_score, relationship_score, health_score: month 2026-10 "
        r"has answers on 0 of \d+ rows \(0%\), against a median \d+% in the 5 month\(s\) "
        r"before it \(min_answered_ratio 0\.5\); the run stopped before writing anything$",
    ):
        check_source_data(clean, WINDOW)


def test_a_collapsed_answered_share_is_refused_below_the_threshold(clean):
    """Two thirds of August's answered rows lose their answers: refused at the default
    threshold (half the median share of the months before), accepted at a lower one."""
    before = _answered_share(clean, MONTH)
    _run(
        clean,
        UNANSWER + " AND MOD(employee_id, 3) <> 0 AND work_score IS NOT NULL",
        m=MONTH,
    )
    after = _answered_share(clean, MONTH)
    assert 0.25 * before < after < 0.45 * before  # between the two thresholds, with margin
    with pytest.raises(DataContractError, match=r"month 2026-08 has answers on \d+ of \d+ rows"):
        check_source_data(clean, WINDOW)
    check_source_data(clean, WINDOW, min_answered_ratio=0.2)


def test_scoring_with_less_history_than_the_features_need_is_refused(clean):
    """Scoring the second month of the history: 5 of the 6 months the features read are empty
    (issue 15.5: it logged 'passed the contract' and scored from one month)."""
    first = add_months(DEMO_END_MONTH, -(SPEC.months - 1))  # 2025-11, the first demo month
    early = add_months(first, 1).replace(day=15)  # features of 2025-11
    with pytest.raises(
        DataContractError,
        match=r"^survey_responses\.survey_month: the features of 2025-11 read the 6 months "
        r"2025-06\.\.2025-11, but survey rows start at 2025-11 \(1 of 6 months\): too little "
        r"history to score 2025-12-15; the run stopped before writing anything$",
    ):
        check_source_data(clean, SourceWindow.for_scoring(early))
    # the first date with the whole history passes; training windows may start before it
    check_source_data(clean, SourceWindow.for_scoring(add_months(first, 6)))
    check_source_data(clean, SourceWindow.for_training(SCORE_DATE, 6))


def test_dates_stored_as_timestamps_at_midnight_pass(clean):
    """A TIMESTAMP column is fine as long as it holds dates (midnight)."""
    _alter_type(clean, "survey_month", "TIMESTAMP")
    _run(clean, "ALTER TABLE {e} ALTER COLUMN hired_on TYPE TIMESTAMP")
    check_source_data(clean, WINDOW)


def test_faults_outside_the_window_do_not_stop_a_run(clean):
    """History the run does not read may be imperfect (but future and NULL keys never are)."""
    _run(clean, "UPDATE {s} SET work_score = 99 WHERE survey_month = :old", old=date(2025, 12, 1))
    check_source_data(clean, WINDOW)
    with pytest.raises(
        DataContractError, match=r"^survey_responses\.work_score: \d+ values outside 0-10"
    ):
        check_source_data(clean, SourceWindow.for_training(SCORE_DATE, 6))


def test_keys_found_in_a_frame_are_stored_in_source_issues(clean):
    """A frame check (tasks/contract.py) raises its keys; issues_recorded stores them inside
    the warehouse and re-raises a plain error that names the table, never the keys."""
    frame = pd.DataFrame(
        {"employee_id": [100001, 100002], "feature_month": pd.to_datetime(["2026-08-01"] * 2)}
    )
    with pytest.raises(DataContractError) as caught, issues_recorded(clean):
        raise _violation(
            frame, frame["employee_id"] > 0, "scoring frame", "work_score", "range", "2 bad"
        )
    message = str(caught.value)
    assert type(caught.value) is DataContractError and "100001" not in message
    assert message.startswith("scoring frame: 2 bad (month=2026-08-01); offending keys: SELECT")
    assert sorted(_issues(clean, message)) == [
        ("scoring frame", "work_score", 100001, date(2026, 8, 1)),
        ("scoring frame", "work_score", 100002, date(2026, 8, 1)),
    ]
