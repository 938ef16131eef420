"""The one package that talks to the warehouse (DuckDB, PostgreSQL, Redshift).

core.py: the base Warehouse and the Transaction handle steps use; duckdb_io.py, postgres_io.py,
redshift_io.py: one subclass per warehouse; factory.py: picks the class by URL scheme;
names.py: the schemes and identifier rules; errors.py: which driver errors are transient.
"""

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
