"""The one package that talks to the warehouse (DuckDB, PostgreSQL, Redshift).

core.py: the base Warehouse and the Transaction handle steps use; duckdb_io.py, postgres_io.py,
redshift_io.py: one subclass per warehouse; factory.py: picks the class by URL scheme;
names.py: the schemes and identifier rules; errors.py: which driver errors are transient.

The names below are loaded on first use (PEP 562): importing `tasks.warehouse.names` (settings
validation, the CLI's start-up) does not import SQLAlchemy, pandas or the drivers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.warehouse.core import (
        RESULT_TABLES,
        SOURCE_TABLES,
        TABLES,
        PartitionPart,
        Transaction,
        Warehouse,
        first_line,
        friendly_errors,
        load_sql,
        split_statements,
        url_from_block,
        url_password,
    )
    from tasks.warehouse.factory import open_warehouse, warehouse_for_url

__all__ = [
    "RESULT_TABLES",
    "SOURCE_TABLES",
    "TABLES",
    "PartitionPart",
    "Transaction",
    "Warehouse",
    "first_line",
    "friendly_errors",
    "load_sql",
    "open_warehouse",
    "split_statements",
    "url_from_block",
    "url_password",
    "warehouse_for_url",
]
_FROM_FACTORY = {"open_warehouse", "warehouse_for_url"}  # the rest live in core.py


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = "factory" if name in _FROM_FACTORY else "core"
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value
