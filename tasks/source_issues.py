"""Where the offending keys of a refused run go: the warehouse's `source_issues` table.

Employee ids never leave the warehouse's network (../shared/DESIGN.md): a contract error's
message reaches Prefect's API (Prefect Cloud is outside AWS), its logs and Slack, so by default
it names the table, the column, the count and the month only, and says where the keys are:
`SELECT * FROM <schema>.source_issues WHERE flow_run_id = '<id>'`. The keys themselves are
written there, inside the warehouse (by INSERT … SELECT for the source checks: they never even
reach this process). PULSEWATCH_ERROR_KEYS=show puts one example key back into the message,
for a laptop.

Checks that find keys in a frame already read (tasks/contract.py, tasks/training_data.py) raise
`KeyedContractError`, which carries the keys; `issues_recorded(warehouse)` around the step that
has the warehouse stores them and re-raises a plain DataContractError. A KeyedContractError
pickles (Prefect result storage) as a plain DataContractError without its keys.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa

from tasks.errors import DataContractError
from tasks.settings import get_settings
from tasks.warehouse import Warehouse

TABLE = "source_issues"
SCHEMA = pa.schema(
    [
        ("flow_run_id", pa.string()),
        ("table_name", pa.string()),
        ("column_name", pa.string()),
        ("employee_id", pa.int64()),
        ("month", pa.date32()),
        ("problem", pa.string()),
    ]
)


class KeyedContractError(DataContractError):
    """A contract violation found in a frame, with its offending (employee_id, month) keys.
    `str()` is the key-free message; the keys stay in this process (see module doc)."""

    def __init__(
        self,
        summary: str,
        *,
        table: str,
        column: str,
        problem: str,
        keys: Sequence[tuple[Any, Any]],
    ) -> None:
        super().__init__(summary)
        self.summary, self.table, self.column, self.problem = summary, table, column, problem
        self.keys = list(keys)

    def __reduce__(self) -> tuple[Any, ...]:
        return (DataContractError, (self.summary,))


def keys_shown() -> bool:
    """PULSEWATCH_ERROR_KEYS=show: messages may name an example key (a laptop)."""
    return get_settings().error_keys == "show"


def current_run_id() -> str:
    """The Prefect flow run's id, or a fresh `local-…` id outside a flow run."""
    # A process running a flow has imported Prefect; one that has not is outside any flow run,
    # and does not pay for importing it (about 1 s) to learn that.
    if "prefect" in sys.modules:
        from prefect.runtime import flow_run

        if flow_run.id:
            return str(flow_run.id)
    return f"local-{uuid.uuid4().hex[:12]}"


def where_to_look(warehouse: Warehouse, run_id: str) -> str:
    return (
        f"offending keys: SELECT * FROM {warehouse.qualified(TABLE)} WHERE flow_run_id = '{run_id}'"
    )


def example(employee_id: object, month: object, *, key_text: str) -> str:
    """The parenthesised example of a message: the key when shown, else the month only."""
    if keys_shown():
        return f"e.g. {key_text}"
    if month is None or pd.isna(month):
        return "keys not shown"
    stamp = pd.Timestamp(month)
    text = stamp.date().isoformat() if stamp == stamp.normalize() else str(stamp)
    return f"month={text}"


def record_source_failures(warehouse: Warehouse, params: Mapping[str, date], run_id: str) -> None:
    """Every offending key of the source checks into source_issues (INSERT … SELECT: the keys
    never leave the warehouse), replacing the run id's earlier ones, in one transaction."""
    with warehouse.transaction() as tx:
        tx.execute_script("source_issues_create")
        tx.execute("source_issues_delete", {"flow_run_id": run_id})
        tx.execute(
            "source_issues_insert",
            {**params, "flow_run_id": run_id},
            failures=warehouse.sql("source_failures"),
        )


def record_keys(warehouse: Warehouse, error: KeyedContractError, run_id: str) -> None:
    """A frame check's keys into source_issues (replacing the run id's earlier ones)."""
    n = len(error.keys)
    rows = pa.table(
        {
            "flow_run_id": [run_id] * n,
            "table_name": [error.table] * n,
            "column_name": [error.column] * n,
            "employee_id": [_int(e) for e, _ in error.keys],
            "month": [_month(m) for _, m in error.keys],
            "problem": [error.problem] * n,
        },
        schema=SCHEMA,  # typed even when a column holds only NULLs
    )
    with warehouse.transaction() as tx:
        tx.execute_script("source_issues_create")
    warehouse.replace_partition(TABLE, "flow_run_id", run_id, [rows])


def _month(value: object) -> date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


@contextmanager
def issues_recorded(warehouse: Warehouse) -> Iterator[None]:
    """Store a KeyedContractError's keys in source_issues and re-raise it as a plain
    DataContractError whose message says where they are."""
    try:
        yield
    except KeyedContractError as error:
        run_id = current_run_id()
        record_keys(warehouse, error, run_id)
        raise DataContractError(f"{error.summary}; {where_to_look(warehouse, run_id)}") from None
