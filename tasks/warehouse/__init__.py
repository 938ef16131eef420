"""The one package that talks to the warehouse (DuckDB, PostgreSQL, Redshift)."""

from tasks.warehouse.core import (
    RESULT_TABLES,
    SOURCE_TABLES,
    TABLES,
    Warehouse,
    first_line,
    friendly_errors,
    load_sql,
    open_warehouse,
    split_statements,
    url_from_block,
)

__all__ = [
    "RESULT_TABLES",
    "SOURCE_TABLES",
    "TABLES",
    "Warehouse",
    "first_line",
    "friendly_errors",
    "load_sql",
    "open_warehouse",
    "split_statements",
    "url_from_block",
]
