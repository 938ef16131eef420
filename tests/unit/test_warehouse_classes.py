"""One class per warehouse: the factory's choice, the Transaction handle, and the shared
replace_partition template (lock -> delete -> append -> verify) on DuckDB and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest

from tasks.errors import ConfigError, LoadVerificationError
from tasks.registry import ensure_result_tables
from tasks.settings import load_settings
from tasks.warehouse import Transaction, open_warehouse, warehouse_for_url
from tasks.warehouse.duckdb_io import DuckDBWarehouse
from tasks.warehouse.names import WAREHOUSE_SCHEMES
from tasks.warehouse.postgres_io import PostgresWarehouse
from tasks.warehouse.redshift_io import RedshiftWarehouse
from tests.support.loader_faults import lock_waiters
from tests.unit.test_warehouse import scores, stored

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 20)
CLASSES = {
    "duckdb": DuckDBWarehouse,
    "postgresql": PostgresWarehouse,
    "redshift": RedshiftWarehouse,
}


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.integration)])
def warehouse(request: pytest.FixtureRequest):
    return request.getfixturevalue("duck" if request.param == "duckdb" else "pg")


# bare `postgresql://` is left out: SQLAlchemy 2.1 reads it as psycopg 3, which is not installed
@pytest.mark.parametrize("scheme", sorted(set(WAREHOUSE_SCHEMES) - {"postgresql"}))
def test_the_factory_picks_the_class_by_scheme(scheme):
    url = "duckdb:///:memory:" if scheme == "duckdb" else f"{scheme}://u:p@db.internal:5439/dw"
    with warehouse_for_url(url, "analytics") as warehouse:  # no connection is opened
        assert type(warehouse) is CLASSES[WAREHOUSE_SCHEMES[scheme]]
        expected = ":memory:" if scheme == "duckdb" else "db.internal/dw"
        assert warehouse.where() == f"{warehouse.kind}:{expected} schema analytics"


def test_the_factory_refuses_an_unknown_scheme():
    with pytest.raises(ValueError, match="unknown warehouse scheme 'mysql'; expected one of: "):
        warehouse_for_url("mysql://u:p@h/x")


def test_open_warehouse_reads_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PULSEWATCH_WAREHOUSE_URL", f"duckdb:///{tmp_path}/sub/w.duckdb")
    monkeypatch.setenv("PULSEWATCH_SCHEMA", "analytics")
    with open_warehouse(load_settings()) as warehouse:
        assert isinstance(warehouse, DuckDBWarehouse)
        assert warehouse.where() == f"duckdb:{tmp_path}/sub/w.duckdb schema analytics"
        assert (tmp_path / "sub").is_dir()  # DuckDB's engine creates the file's folder


def test_redshift_refuses_a_bulk_write_without_staging_before_connecting():
    """The template stages first: without S3 staging, ConfigError, and no connection tried
    (the host does not resolve)."""
    redshift = warehouse_for_url("redshift+psycopg2://u:p@nowhere.invalid:5439/dw")
    with pytest.raises(ConfigError, match="need PULSEWATCH_S3_STAGING"):
        redshift.replace_partition(
            "condition_scores", "score_date", DAY, [scores(DAY, range(3), 0.1)]
        )


def test_a_transaction_commits_at_the_end_and_rolls_back_on_error(warehouse):
    ensure_result_tables(warehouse)
    warehouse.replace_partition("condition_scores", "score_date", DAY, [scores(DAY, range(5), 0.1)])
    with pytest.raises(RuntimeError, match="after the delete"), warehouse.transaction() as tx:
        assert isinstance(tx, Transaction)
        tx.execute("scored_dates", {"start_date": DAY, "end_date": DAY})  # a plain read
        tx.connection.exec_driver_sql(f"DELETE FROM {warehouse.qualified('condition_scores')}")
        raise RuntimeError("after the delete")
    assert len(stored(warehouse, DAY)) == 5
    with warehouse.transaction() as tx:
        assert [
            r["score_date"] for r in tx.fetch("scored_dates", {"start_date": DAY, "end_date": DAY})
        ]
        tx.connection.exec_driver_sql(f"DELETE FROM {warehouse.qualified('condition_scores')}")
    assert len(stored(warehouse, DAY)) == 0


def test_the_template_rolls_back_when_the_count_is_not_the_expected_one(warehouse):
    ensure_result_tables(warehouse)
    warehouse.replace_partition(
        "condition_scores", "score_date", DAY, [scores(DAY, range(50), 0.1)]
    )
    with pytest.raises(LoadVerificationError, match="wrote 10 rows, 10 stored, 11 expected"):
        warehouse.replace_partition(
            "condition_scores", "score_date", DAY, [scores(DAY, range(10), 0.5, "m2")], 11
        )
    after = stored(warehouse, DAY)
    assert len(after) == 50 and set(after.model_version) == {"m1"}


class _LosesARow(DuckDBWarehouse):
    """A DuckDB warehouse whose bulk append reports one row more than it stored."""

    def _append_partition(self, tx, table, staged):
        return super()._append_partition(tx, table, staged) + 1


def test_the_template_rolls_back_when_fewer_rows_are_stored_than_written(tmp_path):
    with _LosesARow(f"duckdb:///{tmp_path}/w.duckdb") as warehouse:
        ensure_result_tables(warehouse)
        with warehouse.transaction() as tx:
            tx.bulk_insert("condition_scores", scores(DAY, range(50), 0.1))
        with pytest.raises(LoadVerificationError, match="wrote 11 rows, 10 stored, 11 expected"):
            warehouse.replace_partition(
                "condition_scores", "score_date", DAY, [scores(DAY, range(10), 0.5, "m2")]
            )
        after = stored(warehouse, DAY)
        assert len(after) == 50 and set(after.model_version) == {"m1"}


@pytest.mark.integration
def test_postgres_transaction_lock_and_bulk_write_lock_are_one_lock(pg):
    """A partition locked through warehouse.transaction() (SQLAlchemy) holds off the ADBC
    replace_partition of the same partition until the transaction ends: one lock statement."""
    ensure_result_tables(pg)
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            pg.replace_partition(
                "condition_scores", "score_date", DAY, [scores(DAY, range(7), 0.2)]
            )
        except BaseException as error:
            errors.append(error)
        done.set()

    with pg.transaction() as holder:
        holder.lock_partition("condition_scores", DAY)
        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 30
        while lock_waiters(pg, "condition_scores", DAY) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock_waiters(pg, "condition_scores", DAY) == 1
        assert not done.is_set() and len(stored(pg, DAY)) == 0
    writer.join(30)
    assert done.is_set() and not errors
    assert len(stored(pg, DAY)) == 7


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://u:p@db.internal:5432/analytics",
        "redshift+psycopg2://u:p@cluster.example:5439/analytics",
    ],
)
def test_libpq_connections_carry_a_connect_timeout(url):
    """Both libpq paths (SQLAlchemy's psycopg2 and ADBC's URI) carry connect_timeout=30 unless
    the URL sets its own. Opening a warehouse connects nowhere, so no server is needed; that
    libpq then gives up is tests/integration/test_postgres.py's, against a silent listener."""
    from tasks.warehouse.postgres_io import libpq_uri

    warehouse = warehouse_for_url(url)
    assert warehouse.engine.url.query["connect_timeout"] == "30"
    assert "connect_timeout=30" in libpq_uri(warehouse.engine.url)
    own = warehouse_for_url(url + "?connect_timeout=5")
    assert own.engine.url.query["connect_timeout"] == "5"
    assert "connect_timeout=5" in libpq_uri(own.engine.url)
    warehouse.close()
    own.close()
