"""DuckDB (the embedded default): Arrow in, Arrow out, inside the SQLAlchemy connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from tasks.warehouse.core import Batch, as_arrow, driver_connection, positional, verify_count

if TYPE_CHECKING:
    from tasks.warehouse.core import Warehouse


def stream(warehouse: Warehouse, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
    query, values = positional(sql, params, warehouse.engine.dialect)
    with warehouse.engine.connect() as conn:
        raw = driver_connection(conn)
        reader = raw.sql(query, params=values or None).to_arrow_reader(chunk_rows)
        empty = True
        for batch in reader:
            empty = False
            yield batch.to_pandas()
        if empty:
            yield reader.schema.empty_table().to_pandas()


def insert(warehouse: Warehouse, conn: sa.Connection, table: str, rows: pa.Table) -> None:
    """INSERT … SELECT from the Arrow table registered as a view (zero-copy scan)."""
    raw = driver_connection(conn)
    view = f"pw_stage_{uuid.uuid4().hex}"
    columns = ", ".join(warehouse.quote(c) for c in rows.column_names)
    raw.register(view, rows)
    try:
        conn.exec_driver_sql(
            f"INSERT INTO {warehouse.qualified(table)} ({columns}) SELECT {columns} FROM {view}"
        )
    finally:
        raw.unregister(view)


def replace_partition(
    warehouse: Warehouse,
    table: str,
    column: str,
    value: Any,
    batches: Iterable[Batch],
    expected: int | None,
) -> int:
    """One transaction: delete, insert, count. DuckDB allows one writing process per file, and
    conflicting transactions inside it abort on commit, so no explicit lock is needed."""
    with warehouse.engine.begin() as conn:
        params = {"value": value}
        conn.execute(sa.text(warehouse.partition_sql("partition_delete", table, column)), params)
        written = 0
        for batch in batches:
            rows = as_arrow(batch)
            if rows.num_rows:
                insert(warehouse, conn, table, rows)
                written += rows.num_rows
        count = warehouse.partition_sql("partition_count", table, column)
        stored = int(conn.execute(sa.text(count), params).scalar_one())
        verify_count(table, column, value, written, stored, expected)
    return written
