"""The Warehouse: engine, names, SQL rendering, and dispatch to each dialect's fast paths.

Three warehouses share one SQL dialect subset (tasks/sql/); what differs lives beside this
module, one file per kind:

| kind       | bulk write (replace a partition)                 | streamed read                  |
|------------|--------------------------------------------------|--------------------------------|
| duckdb     | INSERT … SELECT from a registered Arrow table    | Arrow record batches           |
| postgresql | ADBC ingest (binary COPY) in one transaction     | ADBC (COPY TO STDOUT) batches  |
| redshift   | Parquet on S3 → COPY into a temp table → swap    | UNLOAD to S3 Parquet → pyarrow |

Nothing here reflects the catalog: sqlalchemy-redshift's reflection fails on PostgreSQL and is
slow on Redshift, so table presence is probed with a zero-row SELECT instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from tasks.errors import LoadVerificationError, WarehouseError
from tasks.settings import Settings, validate_identifier, warehouse_kind

TABLES = (
    "employees",
    "survey_responses",
    "condition_scores",
    "model_registry",
    "employee_features",
    "feature_snapshots",
)
SOURCE_TABLES = ("employees", "survey_responses")
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


class Warehouse:
    """Engine plus dialect-specific bulk paths for one run. Create per run; close when done."""

    def __init__(
        self,
        url: str,
        schema: str | None = None,
        *,
        s3_staging: str | None = None,
        iam_role: str | None = None,
    ) -> None:
        self.kind = warehouse_kind(url)
        self.schema = validate_identifier(schema, "schema") if schema else None
        self.engine = self._create_engine(url)
        self.redshift = None
        if self.kind == "redshift":
            from tasks.warehouse.redshift_io import RedshiftIO

            self.redshift = RedshiftIO(self, s3_staging, iam_role)

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        if settings.warehouse_block:
            url = url_from_block(settings.warehouse_block)
        else:
            url = settings.warehouse_url.get_secret_value()
        return cls(
            url,
            settings.warehouse_schema,
            s3_staging=settings.s3_staging,
            iam_role=settings.redshift_iam_role,
        )

    def _create_engine(self, url: str) -> sa.Engine:
        if self.kind == "duckdb":
            database = sa.make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            return sa.create_engine(url)
        if self.kind == "redshift":
            from tasks.warehouse.redshift_io import create_redshift_engine

            return create_redshift_engine(url)
        return sa.create_engine(url, pool_pre_ping=True)

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

    def where(self) -> str:
        """Human name of the warehouse location, without credentials."""
        url = self.engine.url
        location = url.database if self.kind == "duckdb" else f"{url.host}/{url.database}"
        return f"{self.kind}:{location} schema {self.schema or self.default_schema}"

    @property
    def default_schema(self) -> str:
        return "main" if self.kind == "duckdb" else "public"

    # -- DDL and small statements -----------------------------------------------------------
    def execute_script(
        self,
        conn: sa.Connection,
        name: str,
        params: Mapping[str, Any] | None = None,
        **fragments: str,
    ) -> None:
        """Run each statement of tasks/sql/<name>.sql (with the binds each one names)."""
        for statement in split_statements(self.sql(name, **fragments)):
            clause = sa.text(statement)
            conn.execute(
                clause, {k: v for k, v in (params or {}).items() if k in clause._bindparams}
            )

    def ensure_schema(self, conn: sa.Connection) -> None:
        if self.schema:
            quoted = self.engine.dialect.identifier_preparer.quote_schema(self.schema)
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))

    def table_exists(self, table: str) -> bool:
        """Probe with a zero-row SELECT (no catalog reflection). A failure to connect is raised
        as it is (its text may also say "does not exist": a role or a database)."""
        with self.engine.connect() as conn:
            try:
                conn.execute(sa.text(f"SELECT 1 FROM {self.qualified(table)} WHERE 1 = 0"))
                return True
            except (sa_exc.ProgrammingError, sa_exc.DatabaseError) as error:
                if isinstance(error, sa_exc.ProgrammingError) or MISSING.search(first_line(error)):
                    return False
                raise

    def fetch(
        self, conn: sa.Connection, name: str, params: Mapping[str, Any] | None = None
    ) -> list[sa.RowMapping]:
        """Rows of a small query, inside the caller's transaction."""
        return list(conn.execute(sa.text(self.sql(name)), dict(params or {})).mappings())

    def execute(
        self, conn: sa.Connection, name: str, params: Mapping[str, Any] | None = None
    ) -> None:
        conn.execute(sa.text(self.sql(name)), dict(params or {}))

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
            if self.kind == "duckdb":
                from tasks.warehouse import duckdb_io

                yield from duckdb_io.stream(self, sql, values, chunk_rows)
            elif self.kind == "postgresql":
                from tasks.warehouse import postgres_io

                yield from postgres_io.stream(self, name, sql, values, chunk_rows)
            elif self.redshift is not None and self.redshift.staging is not None:
                yield from self.redshift.stream(sql, values, chunk_rows)
            else:
                yield from self._stream_cursor(sql, values, chunk_rows)

    def _stream_cursor(self, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Server-side cursor in partitions: the fallback when no faster path applies."""
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
    def bulk_insert(self, conn: sa.Connection, table: str, batch: Batch) -> int:
        """Append rows (columns named as in the table) inside the caller's SQLAlchemy
        transaction. Used for demo data and fixtures; results go through replace_partition."""
        rows = len(batch) if isinstance(batch, pd.DataFrame) else batch.num_rows
        if rows == 0:
            return 0
        if self.kind == "duckdb":
            from tasks.warehouse import duckdb_io

            duckdb_io.insert(self, conn, table, as_arrow(batch))
        elif self.kind == "postgresql":
            from tasks.warehouse import postgres_io

            postgres_io.copy_csv(self, conn, table, as_arrow(batch))
        else:
            raise WarehouseError(
                "writing source tables is only supported on local warehouses (duckdb, postgresql)"
            )
        return rows

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
        with friendly_errors(f"write {table}"):
            if self.kind == "postgresql":
                from tasks.warehouse import postgres_io

                written = postgres_io.replace_partition(
                    self, table, column, value, batches, expected_rows
                )
            elif self.redshift is not None:
                written = self.redshift.replace_partition(
                    table, column, value, batches, expected_rows
                )
            else:
                from tasks.warehouse import duckdb_io

                written = duckdb_io.replace_partition(
                    self, table, column, value, batches, expected_rows
                )
        return written

    def analyze(self, table: str) -> None:
        """Refresh the planner's statistics of a table after a bulk INSERT … SELECT (PostgreSQL
        would otherwise plan the next join on stale estimates until autovacuum comes by;
        Redshift analyses after COPY but not after INSERT … SELECT). DuckDB needs none."""
        if self.kind in ("postgresql", "redshift"):
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"ANALYZE {self.qualified(table)}"))

    def lock_key(self, table: str, key: object) -> str:
        """Name of a partition's advisory lock. Advisory locks are per database, so the schema
        is part of the name: writers of the same date in two schemas do not wait for each other."""
        return f"{self.schema or self.default_schema}.{table}:{key}"

    def lock_partition(self, conn: sa.Connection, table: str, key: str) -> None:
        """Serialise writers of one logical partition until the SQLAlchemy transaction ends."""
        if self.kind == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": self.lock_key(table, key)},
            )
        elif self.kind == "redshift":
            conn.execute(sa.text(f"LOCK {self.qualified(table)}"))
        # DuckDB: one writing process per file; conflicting transactions abort on commit.

    def partition_sql(self, name: str, table: str, column: str) -> str:
        return self.sql(name, table=self.qualified(table), column=self.quote(column))


def verify_count(
    table: str, column: str, value: Any, written: int, stored: int, expected: int | None
) -> None:
    """Raise (so the caller's transaction rolls back) unless the stored count is right."""
    if stored != written or (expected is not None and stored != expected):
        raise LoadVerificationError(
            f"{table} {column}={value}: wrote {written} rows, {stored} stored, "
            f"{expected if expected is not None else written} expected; rolled back"
        )


def open_warehouse() -> Warehouse:
    """The warehouse of the current configuration (one engine per run; close it after use)."""
    from tasks.settings import get_settings

    return Warehouse.from_settings(get_settings())
