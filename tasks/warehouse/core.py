"""The base Warehouse: engine, names, SQL rendering, transactions and the partition-write template.

Three warehouses share one SQL dialect subset (tasks/sql/); what differs lives beside this
module, one subclass per kind, which owns its fast paths and its locks:

| class             | bulk write (replace a partition)              | streamed read               |
|-------------------|-----------------------------------------------|-----------------------------|
| DuckDBWarehouse   | INSERT … SELECT from a registered Arrow table | Arrow record batches        |
| PostgresWarehouse | ADBC ingest (binary COPY) in one transaction  | ADBC (COPY TO STDOUT)       |
| RedshiftWarehouse | Parquet on S3 → COPY into a temp table → swap | UNLOAD to S3 Parquet        |

tasks/warehouse/factory.py picks the class from the URL's scheme. This module never imports a
dialect module; each dialect module imports from it.

Steps outside this package never see SQLAlchemy: they call the warehouse's methods, or open
`warehouse.transaction()` and run named statements (tasks/sql/<name>.sql) on the handle it yields.

Nothing here reflects the catalog: sqlalchemy-redshift's reflection fails on PostgreSQL and is
slow on Redshift, so table presence is probed with a zero-row SELECT instead.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any, ClassVar, TypeAlias

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from tasks.errors import LoadVerificationError, LockTimeoutError, WarehouseError
from tasks.warehouse.errors import is_permission_error
from tasks.warehouse.names import validate_identifier

TABLES = (
    "employees",
    "survey_responses",
    "condition_scores",
    "model_registry",
    "employee_features",
    "feature_snapshots",
    "model_performance",
    "model_drift",
    "health_breaches",
    "latest_condition_scores",
    "source_issues",
    "score_reasons",
)
SOURCE_TABLES = ("employees", "survey_responses")
# How lock messages name a table's partition ("waiting for the lock on score_date 2026-11-21").
PARTITION_COLUMNS = {
    "condition_scores": "score_date",
    "score_reasons": "score_date",
    "employee_features": "feature_month",
    "feature_snapshots": "feature_month",
}
DEFAULT_LOCK_TIMEOUT_SECONDS = 300.0
# libpq's connect_timeout (PostgreSQL and Redshift, both through libpq: psycopg2 and ADBC) when
# the URL names none. Without it, a warehouse that drops packets (a security group, a paused
# cluster) holds each attempt for the OS's TCP SYN retries, about 2 minutes, before the task's
# retries even start.
CONNECT_TIMEOUT_SECONDS = 30
LOCK_NOTICE_AFTER_SECONDS = 1.0  # a lock not granted by then is worth a log line
_log = logging.getLogger("pulsewatch.warehouse")
RESULT_TABLES = ("condition_scores", "model_registry")
Batch: TypeAlias = pd.DataFrame | pa.Table | pa.RecordBatch

# Driver messages that mean "the thing you asked for is not there": permanent, user-fixable.
MISSING = re.compile(
    r"does not exist|not found|Catalog Error|Binder Error|no such table|UndefinedTable"
    r"|UndefinedColumn",
    re.IGNORECASE,
)


def load_sql(name: str) -> str:
    """The text of tasks/sql/<name>.sql."""
    return resources.files("tasks").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def split_statements(script: str) -> list[str]:
    """Statements of a DDL script; statements end with ';' at the end of a line."""
    parts = re.split(r";\s*(?:\n|$)", script)
    return [p.strip() for p in parts if p.strip() and not _only_comments(p)]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def url_from_block(block_name: str) -> str:
    """The SQLAlchemy URL held by a prefect-sqlalchemy SqlAlchemyConnector block."""
    from prefect_sqlalchemy import SqlAlchemyConnector

    connector = SqlAlchemyConnector.load(block_name)
    info = connector.connection_info
    url = info.create_url() if hasattr(info, "create_url") else sa.make_url(str(info))
    return url.render_as_string(hide_password=False)


def url_password(url: str) -> str | None:
    """The password a warehouse URL carries (to mask it in messages), or None."""
    return sa.make_url(url).password if "://" in url else None


def first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


@contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """Turn 'missing table/column' driver errors into a one-line WarehouseError."""
    try:
        yield
    except (sa_exc.ProgrammingError, sa_exc.DatabaseError, sa_exc.StatementError) as error:
        line = first_line(error)
        if isinstance(error, sa_exc.ProgrammingError) or MISSING.search(line):
            raise WarehouseError(f"{what}: {line}") from error
        raise
    except Exception as error:  # ADBC and DuckDB raise their own exception types
        line = first_line(error)
        driver = type(error).__module__.split(".")[0]
        if driver in ("adbc_driver_manager", "duckdb", "_duckdb") and MISSING.search(line):
            raise WarehouseError(f"{what}: {line}") from error
        raise


def literal_sql(sql: str, params: Mapping[str, Any], dialect: sa.Dialect) -> str:
    """Render bound values into the statement, for the two paths that need literal SQL:
    Redshift UNLOAD (its query is a string) and ADBC's streaming COPY (it streams only
    parameter-free queries). Only dates and numbers are accepted, rendered by SQLAlchemy's
    typed literal processors; text values are refused."""
    binds = []
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (date, int, float)):
            raise TypeError(f"parameter {name}: only dates and numbers can be inlined")
        if isinstance(value, datetime):
            raise TypeError(f"parameter {name}: only dates and numbers can be inlined")
        kind = (
            sa.Date()
            if isinstance(value, date)
            else sa.Integer()
            if isinstance(value, int)
            else sa.Float()
        )
        binds.append(sa.bindparam(name, value, type_=kind))
    statement = sa.text(sql).bindparams(*binds)
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def positional(sql: str, params: Mapping[str, Any], dialect: sa.Dialect) -> tuple[str, list]:
    """`:name` binds → the dialect's positional placeholders and the values in order."""
    compiled = sa.text(sql).bindparams(**params).compile(dialect=dialect)
    return compiled.string, [compiled.params[key] for key in (compiled.positiontup or [])]


def with_connect_timeout(url: str | sa.URL) -> sa.URL:
    """`url` with libpq's connect_timeout (CONNECT_TIMEOUT_SECONDS) unless it sets one."""
    parsed = sa.make_url(url)
    if "connect_timeout" in parsed.query:
        return parsed
    return parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})


def driver_connection(conn: sa.Connection) -> Any:
    """The DBAPI driver's own connection under a SQLAlchemy connection."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise WarehouseError("the warehouse connection is closed")
    return raw


def as_arrow(batch: Batch) -> pa.Table:
    if isinstance(batch, pd.DataFrame):
        return pa.Table.from_pandas(batch, preserve_index=False)
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    return batch


def verify_count(
    table: str, column: str, value: Any, written: int, stored: int, expected: int | None
) -> None:
    """Raise (so the caller's transaction rolls back) unless the stored count is right."""
    if stored != written or (expected is not None and stored != expected):
        raise LoadVerificationError(
            f"{table} {column}={value}: wrote {written} rows, {stored} stored, "
            f"{expected if expected is not None else written} expected; rolled back"
        )


def _binds(clause: sa.TextClause, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The values of `params` the statement names (a script's statements name different ones)."""
    return {k: v for k, v in (params or {}).items() if k in clause._bindparams}


@contextmanager
def lock_wait_notice(warehouse: Warehouse, what: str) -> Iterator[None]:
    """Say "waiting for the lock on <what>" (through warehouse.on_lock_wait) when the block
    has not finished after LOCK_NOTICE_AFTER_SECONDS: the lock statement blocks in the driver,
    so a timer thread says it."""
    message = (
        f"waiting for the lock on {what} (held by another session; giving up after "
        f"{warehouse.lock_timeout:g} s, PULSEWATCH_LOCK_TIMEOUT_SECONDS)"
    )
    timer = threading.Timer(LOCK_NOTICE_AFTER_SECONDS, warehouse.on_lock_wait, [message])
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def lock_timeout_error(warehouse: Warehouse, what: str) -> LockTimeoutError:
    return LockTimeoutError(
        f"gave up waiting for the lock on {what} after {warehouse.lock_timeout:g} s: another "
        "session holds it (a concurrent run?); PULSEWATCH_LOCK_TIMEOUT_SECONDS sets the wait"
    )


@dataclass(frozen=True)
class RoundTrip:
    """Outcome of a warehouse's staging round trip (`pulsewatch doctor`): one line each."""

    ok: bool
    detail: str
    fix: str = ""


class Transaction:
    """One open warehouse transaction, as steps see it: named statements (tasks/sql/), partition
    locks and bulk inserts, all committed together when the `with` block ends (rolled back if it
    raises). Yielded by `Warehouse.transaction()`."""

    def __init__(self, warehouse: Warehouse, connection: sa.Connection) -> None:
        self.warehouse = warehouse
        self.connection = connection  # for the warehouse package's own dialect code

    def fetch(
        self, name: str, params: Mapping[str, Any] | None = None, **fragments: str
    ) -> list[Mapping[Any, Any]]:
        """Rows of a small query, as mappings of column name to value."""
        clause = sa.text(self.warehouse.sql(name, **fragments))
        return list(self.connection.execute(clause, dict(params or {})).mappings())

    def execute(self, name: str, params: Mapping[str, Any] | None = None, **fragments: str) -> None:
        clause = sa.text(self.warehouse.sql(name, **fragments))
        self.connection.execute(clause, dict(params or {}))

    def execute_script(
        self, name: str, params: Mapping[str, Any] | None = None, **fragments: str
    ) -> None:
        """Run each statement of tasks/sql/<name>.sql (with the binds each one names)."""
        for statement in split_statements(self.warehouse.sql(name, **fragments)):
            clause = sa.text(statement)
            self.connection.execute(clause, _binds(clause, params))

    def ensure_schema(self) -> None:
        """CREATE SCHEMA IF NOT EXISTS for the warehouse's schema (none configured: nothing)."""
        if self.warehouse.schema:
            quoted = self.warehouse.engine.dialect.identifier_preparer.quote_schema(
                self.warehouse.schema
            )
            self.connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))

    def lock_partition(self, table: str, key: object) -> None:
        """Serialise writers of one logical partition until this transaction ends."""
        self.warehouse._lock(self.connection, table, key)

    def bulk_insert(self, table: str, batch: Batch) -> int:
        """Append rows (columns named as in the table). Used for demo data and fixtures;
        results go through Warehouse.replace_partition."""
        rows = as_arrow(batch)
        if rows.num_rows == 0:
            return 0
        self.warehouse._bulk_insert(self.connection, table, rows)
        return rows.num_rows


@dataclass(frozen=True)
class PartitionPart:
    """One table's share of a partition replacement: its new rows (and, when known, how many
    there must be; a callable when that is known only once the batches have been read)."""

    table: str
    batches: Iterable[Batch]
    expected_rows: int | Callable[[], int] | None = None

    def expected(self) -> int | None:
        return self.expected_rows() if callable(self.expected_rows) else self.expected_rows


class PartitionWrite:
    """The steps of one partition's replacement in one or more tables, in one transaction, as
    the template in Warehouse.replace_partitions runs them: lock, delete, append, count (each
    step for a named table). This one runs them on a SQLAlchemy transaction; a dialect whose
    bulk path uses another connection (PostgreSQL: ADBC) brings its own."""

    def __init__(self, tx: Transaction, column: str, value: Any) -> None:
        self.tx, self.column, self.value = tx, column, value
        self.warehouse = tx.warehouse

    def lock(self, table: str) -> None:
        self.tx.lock_partition(table, self.value)

    def delete(self, table: str) -> None:
        sql = self.warehouse.partition_sql("partition_delete", table, self.column)
        self.tx.connection.execute(sa.text(sql), {"value": self.value})

    def append(self, table: str, staged: Any) -> int:
        return self.warehouse._append_partition(self.tx, table, staged)

    def count(self, table: str) -> int:
        sql = self.warehouse.partition_sql("partition_count", table, self.column)
        return int(self.tx.connection.execute(sa.text(sql), {"value": self.value}).scalar_one())


class Warehouse:
    """Engine plus the shared SQL paths for one run. Create per run (tasks/warehouse/factory.py
    picks the subclass); close when done. Subclasses own their fast paths: `_stream`,
    `_bulk_insert`, `_append_partition` (and `_staged` / `_partition_write` where the bulk write
    needs them) and `_lock`."""

    kind: ClassVar[str] = "warehouse"  # a plain name, for messages
    default_schema: ClassVar[str] = "public"

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.schema = validate_identifier(schema, "schema") if schema else None
        # How long a lock may be waited for (open_warehouse sets PULSEWATCH_LOCK_TIMEOUT_SECONDS),
        # and who hears "waiting for the lock on …" (a task sets its run logger's warning).
        self.lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS
        self.on_lock_wait: Callable[[str], None] = _log.warning
        self.engine = self._create_engine(url)

    @classmethod
    def open(
        cls,
        url: str,
        schema: str | None = None,
        *,
        s3_staging: str | None = None,
        iam_role: str | None = None,
    ) -> Warehouse:
        """The factory's constructor: staging options concern only a warehouse that stages
        bulk data through S3 (Redshift); the others ignore them."""
        return cls(url, schema)

    def _create_engine(self, url: str) -> sa.Engine:
        return sa.create_engine(with_connect_timeout(url), pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- names and SQL ---------------------------------------------------------------------
    def qualified(self, table: str) -> str:
        """Quoted, schema-qualified name of a table."""
        validate_identifier(table, "table")
        prep = self.engine.dialect.identifier_preparer
        name = prep.quote(table)
        return f"{prep.quote_schema(self.schema)}.{name}" if self.schema else name

    def quote(self, identifier: str) -> str:
        preparer = self.engine.dialect.identifier_preparer
        return preparer.quote(validate_identifier(identifier, "column"))

    def sql(self, name: str, **fragments: str) -> str:
        """Render tasks/sql/<name>.sql: {table} placeholders become quoted qualified names.

        Only validated, quoted identifiers and other trusted .sql files are substituted;
        values are bound parameters.
        """
        names: dict[str, str] = {t: self.qualified(t) for t in TABLES}
        names.update(fragments)
        return load_sql(name).format_map(names)

    def epoch_microseconds(self, timestamp: str) -> str:
        """SQL of `timestamp` (an SQL expression) in microseconds since 1970 as a BIGINT: the
        row hash of tasks/sql/source_profile.sql. EXTRACT(EPOCH ...) is the form Redshift
        documents (its DATE_PART lists no epoch); it only compares to itself per warehouse."""
        return f"CAST(ROUND(EXTRACT(EPOCH FROM {timestamp}) * 1000000) AS BIGINT)"

    def partition_sql(self, name: str, table: str, column: str) -> str:
        return self.sql(name, table=self.qualified(table), column=self.quote(column))

    def where(self) -> str:
        """Human name of the warehouse location, without credentials."""
        return f"{self.kind}:{self._location()} schema {self.schema or self.default_schema}"

    def _location(self) -> str:
        url = self.engine.url
        return f"{url.host}/{url.database}"

    def lock_label(self, table: str, key: object) -> str:
        """How messages name a lock: "score_date 2026-11-21", "model_registry champion"."""
        return f"{PARTITION_COLUMNS.get(table, table)} {key}"

    def lock_key(self, table: str, key: object) -> str:
        """Name of a partition's advisory lock. Advisory locks are per database, so the schema
        is part of the name: writers of the same date in two schemas do not wait for each other."""
        return f"{self.schema or self.default_schema}.{table}:{key}"

    # -- transactions and small statements ---------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.begin() as connection:
            yield Transaction(self, connection)

    def fetch(
        self, name: str, params: Mapping[str, Any] | None = None, **fragments: str
    ) -> list[Mapping[Any, Any]]:
        """Rows of a small read-only query, on a connection of its own."""
        with self.engine.connect() as connection:
            return Transaction(self, connection).fetch(name, params, **fragments)

    def execute(self, name: str, params: Mapping[str, Any] | None = None, **fragments: str) -> None:
        """One statement in a transaction of its own."""
        with self.transaction() as tx:
            tx.execute(name, params, **fragments)

    def round_trip_check(self) -> RoundTrip | None:
        """A one-row trip through the warehouse's bulk staging path; None: it has none."""
        return None

    def ping(self) -> None:
        """Connect and run `SELECT 1`; raises the driver's error if the warehouse is unreachable."""
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def table_exists(self, table: str) -> bool:
        """Probe with a zero-row SELECT (no catalog reflection). A failure to connect is raised
        as it is (its text may also say "does not exist": a role or a database)."""
        return self._probe(f"SELECT 1 FROM {self.qualified(table)} WHERE 1 = 0")

    def column_exists(self, table: str, column: str) -> bool:
        """Whether `table` has `column` (a zero-row SELECT of it, on a connection of its own:
        a failed statement would abort the caller's PostgreSQL transaction)."""
        return self._probe(f"SELECT {self.quote(column)} FROM {self.qualified(table)} WHERE 1 = 0")

    def _probe(self, sql: str) -> bool:
        with self.engine.connect() as conn:
            try:
                conn.execute(sa.text(sql))
                return True
            except (sa_exc.ProgrammingError, sa_exc.DatabaseError) as error:
                if isinstance(error, sa_exc.ProgrammingError) or MISSING.search(first_line(error)):
                    return False
                raise

    def analyze(self, table: str) -> str | None:
        """Refresh the planner's statistics of a table after a bulk INSERT … SELECT (PostgreSQL
        would otherwise plan the next join on stale estimates until autovacuum comes by;
        Redshift analyses after COPY but not after INSERT … SELECT).

        It runs after the data committed, and needs table ownership (or Redshift's ANALYZE
        privilege): a refusal for want of it is returned as a warning for the caller to log,
        never raised -- the run's data is in, only the statistics are stale."""
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"ANALYZE {self.qualified(table)}"))
        except sa_exc.DBAPIError as error:
            if not is_permission_error(error):
                raise
            return (
                f"statistics of {self.qualified(table)} not refreshed ({first_line(error)}); "
                "the data is committed. Grant the ANALYZE privilege or make the run's user "
                "the table owner"
            )
        return None

    def _lock(self, conn: sa.Connection, table: str, key: object) -> None:
        raise NotImplementedError

    # -- reads -------------------------------------------------------------------------------
    def read(
        self, name: str, params: Mapping[str, Any] | None = None, **fragments: str
    ) -> pd.DataFrame:
        """Whole result of a query as one frame (for bounded results)."""
        chunks = list(self.stream(name, params, 100_000, **fragments))
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def stream(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        chunk_rows: int = 100_000,
        **fragments: str,
    ) -> Iterator[pd.DataFrame]:
        """Yield the query's rows in frames of at most `chunk_rows` (at least one, maybe empty).

        Memory is bounded by the chunk (and the driver's batch), not by the result size."""
        sql, values = self.sql(name, **fragments), dict(params or {})
        with friendly_errors(f"query {name}"):
            yield from self._stream(name, sql, values, chunk_rows)

    def _stream(self, name: str, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Server-side cursor in partitions: the path when no faster one applies."""
        with self.engine.connect() as conn:
            options = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
            result = options.execute(sa.text(sql), params)
            columns = list(result.keys())
            empty = True
            for rows in result.partitions(chunk_rows):
                empty = False
                yield pd.DataFrame.from_records(rows, columns=columns)
            if empty:
                yield pd.DataFrame(columns=columns)

    # -- writes ------------------------------------------------------------------------------
    def _bulk_insert(self, conn: sa.Connection, table: str, rows: pa.Table) -> None:
        raise WarehouseError(
            "writing source tables is only supported on local warehouses (duckdb, postgresql)"
        )

    def replace_partition(
        self,
        table: str,
        column: str,
        value: Any,
        batches: Iterable[Batch],
        expected_rows: int | None = None,
    ) -> int:
        """Replace every row with `column = value` by `batches`, in one transaction.

        Lock the partition, delete it, append the batches, check the count; any failure rolls
        back and leaves the previous rows in place. Returns the number of rows written.
        """
        parts = [PartitionPart(table, batches, expected_rows)]
        return self.replace_partitions(column, value, parts)[table]

    def replace_partitions(
        self, column: str, value: Any, parts: Sequence[PartitionPart]
    ) -> dict[str, int]:
        """Replace the rows with `column = value` in several tables, in ONE transaction (e.g. a
        score date's condition_scores and its score_reasons): every table's partition is locked
        (in the order given: every writer names the tables in the same order), then each is
        deleted, appended to and its count checked. A failure in any table rolls back all of
        them: each keeps its previous rows of that partition. Returns rows written per table."""
        tables = [part.table for part in parts]
        if not tables or len(set(tables)) != len(tables):
            raise ValueError(f"replace_partitions: tables must be distinct and given: {tables}")
        written: dict[str, int] = {}
        with friendly_errors(f"write {' and '.join(tables)}"), ExitStack() as stack:
            staged = [stack.enter_context(self._staged(p.table, value, p.batches)) for p in parts]
            write = stack.enter_context(self._partition_write(column, value))
            for table in tables:
                write.lock(table)
            for part, rows in zip(parts, staged, strict=True):
                write.delete(part.table)
                written[part.table] = write.append(part.table, rows)
                stored = write.count(part.table)
                verify_count(
                    part.table, column, value, written[part.table], stored, part.expected()
                )
        return written

    @contextmanager
    def _staged(self, table: str, value: Any, batches: Iterable[Batch]) -> Iterator[Any]:
        """Where the batches wait before the write's transaction opens: nowhere by default
        (they stream into it); a warehouse that loads from staged files uploads them here."""
        yield batches

    @contextmanager
    def _partition_write(self, column: str, value: Any) -> Iterator[PartitionWrite]:
        with self.transaction() as tx:
            yield PartitionWrite(tx, column, value)

    def _append_partition(self, tx: Transaction, table: str, staged: Any) -> int:
        """Append the staged batches inside the write's transaction; returns the rows written."""
        written = 0
        for batch in staged:
            rows = as_arrow(batch)
            if rows.num_rows:
                self._bulk_insert(tx.connection, table, rows)
                written += rows.num_rows
        return written
