"""Tools to interrupt the partition writer at a chosen point, from outside, for real."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import sqlalchemy as sa

from tasks.warehouse import Warehouse

HOLDER_SQL = """
SELECT l.pid FROM pg_locks AS l
WHERE l.locktype = 'advisory' AND l.granted
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(:key)::bigint
"""
WAITER_SQL = """
SELECT COUNT(*) FROM pg_locks AS l
WHERE l.locktype = 'advisory' AND NOT l.granted
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(:key)::bigint
"""


class Gate:
    """A batch iterator that stops after `after` batches until released (a threading.Event),
    so a test can act while the writer holds its transaction open."""

    def __init__(self, batches: Iterable, after: int = 1, timeout: float = 60) -> None:
        self.batches, self.after, self.timeout = batches, after, timeout
        self.paused, self.release = threading.Event(), threading.Event()
        self.yielded = 0

    def __iter__(self) -> Iterator:
        for batch in self.batches:
            if self.yielded == self.after:
                self.paused.set()
                if not self.release.wait(self.timeout):
                    raise TimeoutError("the test never released the gate")
            self.yielded += 1
            yield batch


def lock_holder(warehouse: Warehouse, table: str, key: object) -> int | None:
    """pid of the backend holding the partition's advisory lock (found from another session)."""
    with warehouse.engine.connect() as conn:
        pids = conn.execute(sa.text(HOLDER_SQL), {"key": warehouse.lock_key(table, key)}).all()
    return pids[0][0] if pids else None


def lock_waiters(warehouse: Warehouse, table: str, key: object) -> int:
    with warehouse.engine.connect() as conn:
        return int(
            conn.execute(sa.text(WAITER_SQL), {"key": warehouse.lock_key(table, key)}).scalar()
        )


def terminate(warehouse: Warehouse, pid: int) -> bool:
    with warehouse.engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar())
