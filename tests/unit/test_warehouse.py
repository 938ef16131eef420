"""The partition writer: idempotent, verified, all-or-nothing (DuckDB here; PostgreSQL in
tests/integration)."""

from datetime import date

import pandas as pd
import pytest

from tasks.errors import ConfigError, LoadVerificationError, WarehouseError
from tasks.registry import ensure_result_tables
from tasks.results import scored_dates
from tasks.settings import load_settings
from tasks.warehouse import Warehouse, split_statements, warehouse_for_url

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 20)


def scores(day: date, ids: range, risk: float, version: str = "m1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "score_date": [day] * len(ids),
            "employee_id": list(ids),
            "risk_score": [risk] * len(ids),
            "model_version": [version] * len(ids),
            "flow_run_id": ["run"] * len(ids),
            "scored_at": [pd.Timestamp("2026-11-20 02:00")] * len(ids),
        }
    )


def stored(warehouse: Warehouse, day: date) -> pd.DataFrame:
    with warehouse.engine.connect() as conn:
        frame = pd.read_sql_query(
            f"SELECT employee_id, risk_score, model_version FROM "
            f"{warehouse.qualified('condition_scores')} WHERE score_date = '{day}' "
            "ORDER BY employee_id",
            conn,
        )
    return frame


def replace(warehouse: Warehouse, day: date, batches, expected=None) -> int:
    return warehouse.replace_partition("condition_scores", "score_date", day, batches, expected)


def test_rerun_replaces_the_date_and_leaves_others(duck):
    ensure_result_tables(duck)
    ensure_result_tables(duck)  # idempotent
    other = date(2026, 11, 19)
    assert replace(duck, other, [scores(other, range(5), 0.9)]) == 5
    assert (
        replace(duck, DAY, [scores(DAY, range(0, 60), 0.1), scores(DAY, range(60, 100), 0.1)])
        == 100
    )
    assert replace(duck, DAY, [scores(DAY, range(0, 80), 0.2, "m2")]) == 80
    today = stored(duck, DAY)
    assert len(today) == 80 and today.employee_id.is_unique
    assert set(today.model_version) == {"m2"} and set(today.risk_score) == {0.2}
    assert len(stored(duck, other)) == 5
    assert scored_dates(duck, date(2026, 11, 1), date(2026, 11, 30)) == {other, DAY}


def test_failure_midway_keeps_previous_rows(duck):
    ensure_result_tables(duck)
    replace(duck, DAY, [scores(DAY, range(50), 0.1)])

    def broken():
        yield scores(DAY, range(0, 30), 0.7, "m2")
        raise ConnectionError("connection lost mid-load")

    with pytest.raises(ConnectionError):
        replace(duck, DAY, broken())
    after = stored(duck, DAY)
    assert len(after) == 50 and set(after.model_version) == {"m1"}


def test_count_mismatch_rolls_back(duck):
    ensure_result_tables(duck)
    replace(duck, DAY, [scores(DAY, range(50), 0.1)])
    with pytest.raises(LoadVerificationError, match="wrote 10 rows, 10 stored, 11 expected"):
        replace(duck, DAY, [scores(DAY, range(10), 0.5, "m2")], expected=11)
    assert len(stored(duck, DAY)) == 50


def test_missing_table_is_a_one_line_error(duck):
    with pytest.raises(WarehouseError) as caught:
        duck.read("scored_dates", {"start_date": DAY, "end_date": DAY})
    assert "condition_scores" in str(caught.value) and "\n" not in str(caught.value)
    assert not duck.table_exists("condition_scores")


def test_identifiers_are_validated_and_quoted():
    warehouse = warehouse_for_url("duckdb:///:memory:", "Analytics")
    assert warehouse.qualified("employees") == '"Analytics".employees'
    with pytest.raises(ValueError, match="schema must match"):
        warehouse_for_url("duckdb:///:memory:", "x; DROP TABLE employees")


def test_hostile_or_unknown_settings_are_refused(monkeypatch):
    monkeypatch.setenv("PULSEWATCH_SCHEMA", "public;drop table x")
    with pytest.raises(ConfigError, match=r"^PULSEWATCH_SCHEMA: schema must match"):
        load_settings()
    monkeypatch.setenv("PULSEWATCH_SCHEMA", "ok")
    monkeypatch.setenv("PULSEWATCH_WAREHOUSE_URL", "mysql://user:s3cret@db/x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "unknown warehouse scheme 'mysql'" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_split_statements_skips_comment_only_parts():
    script = "-- header\nCREATE TABLE a (x INT);\n\n-- note\nCREATE TABLE b (y INT);\n"
    assert split_statements(script) == [
        "-- header\nCREATE TABLE a (x INT)",
        "-- note\nCREATE TABLE b (y INT)",
    ]


def test_libpq_uri_keeps_every_part_of_the_url():
    """ADBC gets a URI that libpq (PQconninfoParse, via psycopg2) reads back to the same
    values: a password with URI delimiters, a database name with a space, options with spaces
    and `=` (SQLAlchemy's own rendering writes spaces as `+`, which libpq keeps as `+`)."""
    import sqlalchemy as sa
    from psycopg2.extensions import parse_dsn

    from tasks.warehouse.postgres_io import libpq_uri

    options = "-c search_path=pw,public -c statement_timeout=5min"
    url = sa.URL.create(
        "postgresql+psycopg2",
        username="pw reader",
        password="p@ss:w/rd+%x y?#",
        host="warehouse.internal",
        port=5439,
        database="people analytics",
        query={"sslmode": "verify-full", "options": options},
    )
    assert parse_dsn(libpq_uri(url)) == {
        "user": "pw reader",
        "password": "p@ss:w/rd+%x y?#",
        "host": "warehouse.internal",
        "port": "5439",
        "dbname": "people analytics",
        "sslmode": "verify-full",
        "options": options,
    }
