"""Fixtures shared by the fault-injection tests."""

from __future__ import annotations

import pytest

from tasks.warehouse import Warehouse


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """The same test on the embedded DuckDB and on the local PostgreSQL (a fresh schema)."""
    return request.getfixturevalue("duck" if request.param == "duckdb" else "pg")
