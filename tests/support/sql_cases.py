"""A hand-made warehouse whose features and labels can be worked out on paper.

Employee 1 (Sales, hired 2020-01-15, stays):
    month   scores        mean
    2026-01 8  8  8       8.0
    2026-02 7  8  9       8.0
    2026-03 6  6  6       6.0
    2026-04 -  -  -       (skipped)
    2026-05 4  -  5       4.5
    2026-06 3  3  3       3.0
Employee 2 (Engineering, hired 2025-12-10, leaves 2026-04-20): 9 9 9 in 2026-01..2026-04.
Employee 3 (Engineering, hired 2026-06-01): no survey rows yet.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from tasks.warehouse import Warehouse

EMPLOYEES = pd.DataFrame(
    {
        "employee_id": [1, 2, 3],
        "department": ["Sales", "Engineering", "Engineering"],
        "hired_on": pd.to_datetime(["2020-01-15", "2025-12-10", "2026-06-01"]),
        "left_on": pd.to_datetime([None, "2026-04-20", None]),
    }
)

_ONE = [(8, 8, 8), (7, 8, 9), (6, 6, 6), (None, None, None), (4, None, 5), (3, 3, 3)]
_MONTHS = pd.date_range("2026-01-01", periods=6, freq="MS")


def responses() -> pd.DataFrame:
    rows = []
    for month, (w, r, h) in zip(_MONTHS, _ONE, strict=True):
        answered = None if w is None and r is None and h is None else month + pd.Timedelta(days=3)
        rows.append((1, month, w, r, h, answered))
    for month in _MONTHS[:4]:
        rows.append((2, month, 9, 9, 9, month + pd.Timedelta(days=2)))
    frame = pd.DataFrame(
        rows,
        columns=[
            "employee_id",
            "survey_month",
            "work_score",
            "relationship_score",
            "health_score",
            "answered_at",
        ],
    )
    for column in ("work_score", "relationship_score", "health_score"):
        frame[column] = frame[column].astype("Int16")
    return frame


def load(warehouse: Warehouse, survey: pd.DataFrame | None = None) -> None:
    with warehouse.transaction() as tx:
        tx.ensure_schema()
        tx.execute_script("create_source_tables")
        tx.execute_script("clear_source_tables")
        tx.bulk_insert("employees", EMPLOYEES)
        tx.bulk_insert("survey_responses", responses() if survey is None else survey)


TRAIN_END = date(2026, 7, 5)  # data up to 2026-06; labelled feature months up to 2026-05
