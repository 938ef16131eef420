"""Which failures the I/O tasks retry: real error objects from the drivers, not strings."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tasks.errors import DataContractError, WarehouseError
from tasks.retries import is_transient
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.integration


def _error_of(action) -> BaseException:
    try:
        action()
    except Exception as error:
        return error
    raise AssertionError("no error raised")


def _connect(url: str):
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()


def _adbc_connect(url: str):
    from tasks.warehouse import warehouse_for_url
    from tasks.warehouse.postgres_io import connect

    with warehouse_for_url(url) as warehouse:
        connect(warehouse).close()


def test_refused_connections_are_retried_credentials_are_not(pg):
    closed = sa.make_url(POSTGRES_URL).set(port=1).render_as_string(hide_password=False)
    no_role = sa.make_url(POSTGRES_URL).set(username="pw_no_such_role").render_as_string(False)
    no_db = sa.make_url(POSTGRES_URL).set(database="pw_no_such_db").render_as_string(False)
    assert is_transient(_error_of(lambda: _connect(closed)))
    assert is_transient(_error_of(lambda: _adbc_connect(closed)))
    assert not is_transient(_error_of(lambda: _connect(no_role)))
    assert not is_transient(_error_of(lambda: _adbc_connect(no_role)))
    assert not is_transient(_error_of(lambda: _connect(no_db)))


def test_bad_sql_and_contract_violations_are_not_retried(pg):
    def bad_sql():
        with pg.engine.connect() as conn:
            conn.execute(sa.text("SELEC 1"))

    def missing_table():
        with pg.engine.connect() as conn:
            conn.execute(sa.text(f"SELECT * FROM {pg.qualified('no_such_table')}"))

    assert not is_transient(_error_of(bad_sql))
    assert not is_transient(_error_of(missing_table))
    assert not is_transient(DataContractError("survey_responses.work_score: 1 values outside 0-10"))
    assert not is_transient(WarehouseError("source table employees is missing"))
    assert is_transient(ConnectionError("connection reset by peer"))


def test_adbc_errors_are_classified_by_their_sqlstate(pg):
    """ADBC wraps server errors in classes that do not say whether they are transient (a lost
    backend during COPY comes as ProgrammingError): the SQLSTATE decides."""
    from tasks.warehouse.postgres_io import connect

    table = pg.qualified("pw_lock_probe")
    with pg.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (x BIGINT)"))

    def adbc_run(*statements: str) -> None:
        with connect(pg) as conn, conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    try:
        with pg.engine.connect() as holder:
            holder.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            locked = _error_of(
                lambda: adbc_run("SET lock_timeout = '50ms'", f"SELECT * FROM {table}")
            )
            holder.rollback()
        assert getattr(locked, "sqlstate", None) == "55P03"
        assert is_transient(locked)
        bad_sql = _error_of(lambda: adbc_run("SELEC 1"))
        assert getattr(bad_sql, "sqlstate", None) == "42601"
        assert not is_transient(bad_sql)

        def wrong_column_type() -> None:  # int32 into BIGINT: COPY reports a protocol violation
            import pyarrow as pa

            with connect(pg) as conn, conn.cursor() as cursor:
                cursor.adbc_ingest(
                    "pw_lock_probe",
                    pa.table({"x": pa.array([1], pa.int32())}),
                    mode="append",
                    db_schema_name=pg.schema,
                )

        protocol = _error_of(wrong_column_type)
        assert getattr(protocol, "sqlstate", None) == "08P01"  # class 08, yet no retry cures it
        assert not is_transient(protocol)
    finally:
        with pg.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))


def redshift_error(pg, message: str, detail: str) -> BaseException:
    """A real psycopg2 error with SQLSTATE XX000 and Redshift's message layout, raised by the
    server (Redshift reports its serializable isolation violation this way, not as 40001)."""

    def raise_it() -> None:
        with pg.engine.connect() as conn:
            conn.execute(
                sa.text(
                    "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'XX000', "
                    f"MESSAGE = '{message}', DETAIL = '{detail}'; END $$"
                )
            )

    return _error_of(raise_it)


def test_redshift_serialization_conflict_is_retried_other_internal_errors_are_not(pg):
    conflict = redshift_error(
        pg,
        "1023",
        "Serializable isolation violation on table - 100388, transactions forming the cycle "
        "are: 25051, 25052 (pid:3021)",
    )
    assert getattr(conflict.orig, "pgcode", None) == "XX000"
    assert "Serializable isolation violation" in str(conflict)
    assert is_transient(conflict)
    other = redshift_error(pg, "cache lookup failed for relation 100388", "")
    assert getattr(other.orig, "pgcode", None) == "XX000"
    assert not is_transient(other)
