"""The one module that talks to the warehouse: engines, dialect quirks, bulk read and write.

Three warehouses share one SQL dialect subset (see tasks/sql/); what differs lives here:

| kind       | bulk write                                 | streamed read                      |
|------------|--------------------------------------------|------------------------------------|
| duckdb     | INSERT … SELECT from a registered frame    | Arrow record batches               |
| postgresql | COPY … FROM STDIN (CSV)                    | server-side cursor, in partitions  |
| redshift   | not yet: Parquet on S3 + COPY (issue #3)   | server-side cursor, in partitions  |

Nothing here reflects the catalog: sqlalchemy-redshift's reflection fails on PostgreSQL and is
slow on Redshift, so table presence is probed with a zero-row SELECT instead.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from tasks.errors import LoadVerificationError, WarehouseError
from tasks.settings import Settings, validate_identifier, warehouse_kind

TABLES = ("employees", "survey_responses", "condition_scores", "model_registry")
SOURCE_TABLES = ("employees", "survey_responses")
RESULT_TABLES = ("condition_scores", "model_registry")
COPY_CHUNK_ROWS = 100_000

# Driver messages that mean "the thing you asked for is not there": permanent, user-fixable.
_MISSING = re.compile(
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


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


@contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """Turn 'missing table/column' driver errors into a one-line WarehouseError."""
    try:
        yield
    except (sa_exc.ProgrammingError, sa_exc.DatabaseError, sa_exc.StatementError) as error:
        line = _first_line(error)
        if isinstance(error, sa_exc.ProgrammingError) or _MISSING.search(line):
            raise WarehouseError(f"{what}: {line}") from error
        raise


class Warehouse:
    """Engine plus dialect-specific bulk paths for one run. Create per run; close when done."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.kind = warehouse_kind(url)
        self.schema = validate_identifier(schema, "schema") if schema else None
        self.engine = self._create_engine(url)

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        if settings.warehouse_block:
            url = url_from_block(settings.warehouse_block)
        else:
            url = settings.warehouse_url.get_secret_value()
        return cls(url, settings.warehouse_schema)

    def _create_engine(self, url: str) -> sa.Engine:
        if self.kind == "duckdb":
            database = sa.make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            return sa.create_engine(url)
        if self.kind == "redshift":
            # Verified TLS unless the URL says otherwise (sqlalchemy-redshift insists on SSL).
            parsed = sa.make_url(url)
            connect_args = {} if "sslmode" in parsed.query else {"sslmode": "verify-full"}
            return sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
        return sa.create_engine(url, pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- names and SQL ---------------------------------------------------------------------
    def qualified(self, table: str) -> str:
        """Quoted, schema-qualified name of a known table."""
        validate_identifier(table, "table")
        prep = self.engine.dialect.identifier_preparer
        name = prep.quote(table)
        return f"{prep.quote_schema(self.schema)}.{name}" if self.schema else name

    def quote(self, identifier: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(
            validate_identifier(identifier, "column")
        )

    def sql(self, name: str, **fragments: str) -> str:
        """Render tasks/sql/<name>.sql: {table} placeholders become quoted qualified names.

        Only validated, quoted identifiers and other trusted .sql files are substituted;
        values are always bound parameters.
        """
        names: dict[str, str] = {t: self.qualified(t) for t in TABLES}
        if self.schema:
            names["schema"] = self.engine.dialect.identifier_preparer.quote_schema(self.schema)
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
    def execute_script(self, conn: sa.Connection, name: str, **fragments: str) -> None:
        for statement in split_statements(self.sql(name, **fragments)):
            conn.execute(sa.text(statement))

    def ensure_schema(self, conn: sa.Connection) -> None:
        if self.schema:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {self.sql_schema}"))

    @property
    def sql_schema(self) -> str:
        return self.engine.dialect.identifier_preparer.quote_schema(self.schema or "")

    def table_exists(self, table: str) -> bool:
        """Probe with a zero-row SELECT (no catalog reflection)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text(f"SELECT 1 FROM {self.qualified(table)} WHERE 1 = 0"))
            return True
        except (sa_exc.ProgrammingError, sa_exc.DatabaseError) as error:
            if isinstance(error, sa_exc.ProgrammingError) or _MISSING.search(_first_line(error)):
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

    def scalar(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        with friendly_errors(f"query {name}"), self.engine.connect() as conn:
            return conn.execute(sa.text(self.sql(name)), dict(params or {})).scalar()

    # -- reads -------------------------------------------------------------------------------
    def read(
        self, name: str, params: Mapping[str, Any] | None = None, **fragments: str
    ) -> pd.DataFrame:
        """Whole result of a query as one frame (for bounded results)."""
        chunks = list(self.stream(name, params, **fragments))
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def stream(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        chunk_rows: int = 100_000,
        **fragments: str,
    ) -> Iterator[pd.DataFrame]:
        """Yield the query's rows in frames of at most `chunk_rows` (at least one, maybe empty)."""
        statement = sa.text(self.sql(name, **fragments))
        with friendly_errors(f"query {name}"), self.engine.connect() as conn:
            if self.kind == "duckdb":
                yield from self._stream_duckdb(
                    conn, statement, dict(params or {}), chunk_rows, name
                )
            else:
                yield from self._stream_cursor(conn, statement, dict(params or {}), chunk_rows)

    def _stream_duckdb(
        self,
        conn: sa.Connection,
        statement: sa.TextClause,
        params: dict,
        chunk_rows: int,
        name: str,
    ) -> Iterator[pd.DataFrame]:
        compiled = statement.bindparams(**params).compile(dialect=self.engine.dialect)
        positional = [compiled.params[key] for key in (compiled.positiontup or [])]
        raw = conn.connection.driver_connection
        try:
            reader = raw.sql(compiled.string, params=positional).to_arrow_reader(chunk_rows)
        except Exception as error:  # duckdb raises its own exception types here
            line = _first_line(error)
            if _MISSING.search(line):
                raise WarehouseError(f"query {name}: {line}") from error
            raise
        empty = True
        for batch in reader:
            empty = False
            yield batch.to_pandas()
        if empty:
            yield reader.schema.empty_table().to_pandas()

    def _stream_cursor(
        self, conn: sa.Connection, statement: sa.TextClause, params: dict, chunk_rows: int
    ) -> Iterator[pd.DataFrame]:
        result = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows).execute(
            statement, params
        )
        columns = list(result.keys())
        empty = True
        for rows in result.partitions(chunk_rows):
            empty = False
            yield pd.DataFrame.from_records(rows, columns=columns)
        if empty:
            yield pd.DataFrame(columns=columns)

    # -- writes ------------------------------------------------------------------------------
    def bulk_insert(self, conn: sa.Connection, table: str, frame: pd.DataFrame) -> int:
        """Append `frame` (columns named as in the table) inside the caller's transaction."""
        if frame.empty:
            return 0
        if self.kind == "duckdb":
            self._insert_duckdb(conn, table, frame)
        elif self.kind == "postgresql":
            self._copy_postgres(conn, table, frame)
        else:
            raise WarehouseError(
                "bulk load into Redshift (Parquet on S3 + COPY) is not implemented yet (issue #3)"
            )
        return len(frame)

    def _insert_duckdb(self, conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
        raw = conn.connection.driver_connection
        view = f"pw_stage_{uuid.uuid4().hex}"
        columns = ", ".join(self.quote(c) for c in frame.columns)
        raw.register(view, frame)
        try:
            conn.exec_driver_sql(
                f"INSERT INTO {self.qualified(table)} ({columns}) SELECT {columns} FROM {view}"
            )
        finally:
            raw.unregister(view)

    def _copy_postgres(self, conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
        columns = ", ".join(self.quote(c) for c in frame.columns)
        copy = f"COPY {self.qualified(table)} ({columns}) FROM STDIN WITH (FORMAT csv)"
        cursor = conn.connection.driver_connection.cursor()
        try:
            for start in range(0, len(frame), COPY_CHUNK_ROWS):
                buffer = io.StringIO()
                frame.iloc[start : start + COPY_CHUNK_ROWS].to_csv(
                    buffer, index=False, header=False
                )
                buffer.seek(0)
                cursor.copy_expert(copy, buffer)
        finally:
            cursor.close()

    def lock_partition(self, conn: sa.Connection, table: str, key: str) -> None:
        """Serialise writers of one partition until the transaction ends."""
        if self.kind == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"{table}:{key}"}
            )
        elif self.kind == "redshift":
            conn.execute(sa.text(f"LOCK {self.qualified(table)}"))
        # DuckDB: one writing process per file; conflicting transactions abort on commit.

    def replace_partition(
        self,
        table: str,
        column: str,
        value: Any,
        batches: Iterable[pd.DataFrame],
        expected_rows: int | None = None,
    ) -> int:
        """Replace every row with `column = value` by `batches`, in one transaction.

        Lock the partition, delete it, append the batches, check the count; any failure rolls
        back and leaves the previous rows in place. Returns the number of rows written.
        """
        fragments = {"table": self.qualified(table), "column": self.quote(column)}
        with friendly_errors(f"write {table}"), self.engine.begin() as conn:
            self.lock_partition(conn, table, str(value))
            conn.execute(sa.text(self.sql("partition_delete", **fragments)), {"value": value})
            written = sum(self.bulk_insert(conn, table, batch) for batch in batches)
            stored = conn.execute(
                sa.text(self.sql("partition_count", **fragments)), {"value": value}
            ).scalar()
            if stored != written or (expected_rows is not None and stored != expected_rows):
                raise LoadVerificationError(
                    f"{table} {column}={value}: wrote {written} rows, {stored} stored, "
                    f"{expected_rows if expected_rows is not None else written} expected; "
                    "rolled back"
                )
        return written


def open_warehouse() -> Warehouse:
    """The warehouse of the current configuration (one engine per run; close it after use)."""
    from tasks.settings import get_settings

    return Warehouse.from_settings(get_settings())
