"""Independent SQL checks of what a run left in the warehouse (shared by DuckDB and PostgreSQL
tests)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from tasks.warehouse import Warehouse


def active_employees(warehouse: Warehouse, day: date) -> int:
    query = (
        f"SELECT COUNT(*) FROM {warehouse.qualified('employees')} WHERE hired_on <= :d "
        "AND (left_on IS NULL OR left_on > :d)"
    )
    with warehouse.engine.connect() as conn:
        return conn.execute(sa.text(query), {"d": day}).scalar()


def score_rows(warehouse: Warehouse, day: date) -> tuple[int, int]:
    """(rows, distinct employees) stored for a score date."""
    query = (
        f"SELECT COUNT(*), COUNT(DISTINCT employee_id) FROM "
        f"{warehouse.qualified('condition_scores')} WHERE score_date = :d"
    )
    with warehouse.engine.connect() as conn:
        rows, distinct = conn.execute(sa.text(query), {"d": day}).one()
    return int(rows), int(distinct)


def registry(warehouse: Warehouse) -> dict[str, str]:
    query = f"SELECT model_version, status FROM {warehouse.qualified('model_registry')}"
    with warehouse.engine.connect() as conn:
        return dict(conn.execute(sa.text(query)).all())


def risk_by_employee(warehouse: Warehouse, day: date) -> dict[int, float]:
    query = (
        f"SELECT employee_id, risk_score FROM {warehouse.qualified('condition_scores')} "
        "WHERE score_date = :d"
    )
    with warehouse.engine.connect() as conn:
        return {int(e): float(r) for e, r in conn.execute(sa.text(query), {"d": day}).all()}


def reasons_by_employee(warehouse: Warehouse, day: date) -> dict[int, list[str]]:
    """Each employee's reasons (features by rank) stored for a score date."""
    query = (
        f"SELECT employee_id, rank, feature FROM {warehouse.qualified('score_reasons')} "
        "WHERE score_date = :d ORDER BY employee_id, rank"
    )
    out: dict[int, list[str]] = {}
    with warehouse.engine.connect() as conn:
        for employee, _, feature in conn.execute(sa.text(query), {"d": day}).all():
            out.setdefault(int(employee), []).append(feature)
    return out
