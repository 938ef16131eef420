"""DuckDB (the embedded default): Arrow in, Arrow out, inside the SQLAlchemy connection."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from tasks.warehouse.core import (
    Warehouse,
    driver_connection,
    lock_timeout_error,
    lock_wait_notice,
    positional,
)

FILE_LOCK_POLL_SECONDS = 0.5


class DuckDBWarehouse(Warehouse):
    kind: ClassVar[str] = "duckdb"
    default_schema: ClassVar[str] = "main"

    def _create_engine(self, url: str) -> sa.Engine:
        database = sa.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url)

        @sa.event.listens_for(engine, "do_connect")
        def _wait_for_the_file(dialect, conn_rec, cargs, cparams):
            return self._connect_waiting(lambda: dialect.connect(*cargs, **cparams))

        return engine

    def _connect_waiting(self, connect: Callable[[], Any]) -> Any:
        """DuckDB lets one process open a file for writing and refuses the others at once
        ("Could not set lock on file"): wait for it, polling, at most `lock_timeout`."""
        what = f"the DuckDB file {self._location()}"
        deadline = time.monotonic() + self.lock_timeout
        with lock_wait_notice(self, what):
            while True:
                try:
                    return connect()
                except Exception as error:
                    if "could not set lock" not in str(error).lower():
                        raise
                    if time.monotonic() >= deadline:
                        raise lock_timeout_error(self, what) from None
                    time.sleep(FILE_LOCK_POLL_SECONDS)

    def _location(self) -> str:
        return str(self.engine.url.database)

    def _lock(self, conn: sa.Connection, table: str, key: object) -> None:
        """No lock: DuckDB allows one writing process per file, and conflicting transactions
        inside it abort on commit."""

    def epoch_microseconds(self, timestamp: str) -> str:
        """DuckDB's epoch_us: the exact integer, no float in between."""
        return f"epoch_us({timestamp})"

    def analyze(self, table: str) -> str | None:
        """DuckDB keeps its statistics up to date by itself."""
        return None

    def _stream(self, name: str, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
        query, values = positional(sql, params, self.engine.dialect)
        with self.engine.connect() as conn:
            raw = driver_connection(conn)
            reader = raw.sql(query, params=values or None).to_arrow_reader(chunk_rows)
            empty = True
            for batch in reader:
                empty = False
                yield batch.to_pandas()
            if empty:
                yield reader.schema.empty_table().to_pandas()

    def _bulk_insert(self, conn: sa.Connection, table: str, rows: pa.Table) -> None:
        """INSERT … SELECT from the Arrow table registered as a view (zero-copy scan)."""
        raw = driver_connection(conn)
        view = f"pw_stage_{uuid.uuid4().hex}"
        columns = ", ".join(self.quote(c) for c in rows.column_names)
        raw.register(view, rows)
        try:
            conn.exec_driver_sql(
                f"INSERT INTO {self.qualified(table)} ({columns}) SELECT {columns} FROM {view}"
            )
        finally:
            # After a failed INSERT the transaction is aborted and unregister fails as well;
            # that error would hide the INSERT's (the connection is discarded anyway).
            with contextlib.suppress(Exception):
                raw.unregister(view)


def show_read_only(
    path: str,
    sql: str,
    wait_seconds: float = 120.0,
    on_wait: Callable[[], None] = lambda: None,
) -> str:
    """One query on a DuckDB file opened read-only, rendered as a table: the run summary's
    "look" command. While a run writes the file, its process holds DuckDB's file lock (one
    process at a time, even for readers); the pipeline's tasks open and close the file, so
    the lock comes free between them: wait for it, up to `wait_seconds`, calling `on_wait`
    once when the wait begins. Hand-written: DuckDB has no lock timeout of its own."""
    import time

    import duckdb

    from tasks.errors import WarehouseError

    deadline = time.monotonic() + wait_seconds
    waiting = False
    while True:
        try:
            with duckdb.connect(path, read_only=True) as conn:
                return str(conn.sql(sql))
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise WarehouseError(f"{path}: {str(error).splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                raise WarehouseError(
                    f"{path} is still being written by another process after "
                    f"{wait_seconds:.0f} s; look again when the run has finished"
                ) from None
            if not waiting:
                waiting = True
                on_wait()
            time.sleep(0.25)
