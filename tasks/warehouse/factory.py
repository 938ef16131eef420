"""The one place that picks a warehouse class: by the URL's scheme (tasks/warehouse/names.py)."""

from __future__ import annotations

from typing import Protocol

from tasks.warehouse.core import Warehouse, url_from_block
from tasks.warehouse.duckdb_io import DuckDBWarehouse
from tasks.warehouse.names import warehouse_kind
from tasks.warehouse.postgres_io import PostgresWarehouse
from tasks.warehouse.redshift_io import RedshiftWarehouse

CLASSES: dict[str, type[Warehouse]] = {
    cls.kind: cls for cls in (DuckDBWarehouse, PostgresWarehouse, RedshiftWarehouse)
}


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class WarehouseSettings(Protocol):
    """What opening the warehouse reads from tasks.settings.Settings (which imports this
    package to validate the URL's scheme, so this package does not import it back)."""

    @property
    def warehouse_url(self) -> _Secret: ...
    @property
    def warehouse_block(self) -> str | None: ...
    @property
    def warehouse_schema(self) -> str | None: ...
    @property
    def s3_staging(self) -> str | None: ...
    @property
    def redshift_iam_role(self) -> str | None: ...
    @property
    def lock_timeout_seconds(self) -> float: ...


def warehouse_for_url(
    url: str,
    schema: str | None = None,
    *,
    s3_staging: str | None = None,
    iam_role: str | None = None,
) -> Warehouse:
    """The warehouse serving `url` (ValueError for an unknown scheme); close it after use."""
    cls = CLASSES[warehouse_kind(url)]
    return cls.open(url, schema, s3_staging=s3_staging, iam_role=iam_role)


def open_warehouse(settings: WarehouseSettings) -> Warehouse:
    """The configured warehouse (one engine per run; close it after use). Callers pass
    `tasks.settings.get_settings()`."""
    if settings.warehouse_block:
        url = url_from_block(settings.warehouse_block)
    else:
        url = settings.warehouse_url.get_secret_value()
    warehouse = warehouse_for_url(
        url,
        settings.warehouse_schema,
        s3_staging=settings.s3_staging,
        iam_role=settings.redshift_iam_role,
    )
    warehouse.lock_timeout = settings.lock_timeout_seconds
    return warehouse
