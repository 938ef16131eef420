"""Issue 15 item 8: a held lock bounds the wait instead of hanging the load (and its backend)
forever: a "waiting for the lock" line, then one line naming PULSEWATCH_LOCK_TIMEOUT_SECONDS."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.settings import PREFECT_API_URL

from flows.nightly import nightly_pipeline
from tasks.demo_data import write_demo_data
from tasks.errors import LockTimeoutError
from tasks.warehouse import warehouse_for_url
from tests.conftest import POSTGRES_URL, SMALL_DEMO
from tests.support.flow_checks import risk_by_employee

CLI = str(Path(sys.executable).with_name("pulsewatch"))
DAY = date(2026, 11, 20)


def _waiting_backends(warehouse, holder_pid: int) -> list[tuple]:
    """Sessions waiting for a lock the holder's session holds (other tests' sessions, which
    may wait on their own locks in this database at the same time, do not count)."""
    query = (
        "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND :holder = ANY(pg_blocking_pids(pid))"
    )
    with warehouse.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(query), {"holder": holder_pid}).all()]


@pytest.mark.integration
def test_a_held_partition_lock_bounds_the_load_on_postgres(pg, prefect_api):
    """A real second session holds the date's advisory lock: `pulsewatch score` says it waits,
    gives up after PULSEWATCH_LOCK_TIMEOUT_SECONDS with one line, leaves no backend waiting
    and the date's previous scores whole."""
    write_demo_data(pg, SMALL_DEMO)
    nightly_pipeline(score_date=DAY)
    before = risk_by_employee(pg, DAY)
    with pg.transaction() as holder:
        holder.lock_partition("condition_scores", DAY)
        holder_pid = holder.connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        env = {
            **os.environ,
            "PREFECT_API_URL": PREFECT_API_URL.value(),
            "PULSEWATCH_WAREHOUSE_URL": POSTGRES_URL,
            "PULSEWATCH_SCHEMA": pg.schema,
            "PULSEWATCH_LOCK_TIMEOUT_SECONDS": "3",
        }
        env.pop("PULSEWATCH_DEBUG", None)
        result = subprocess.run(
            [CLI, "score", "--date", str(DAY)], capture_output=True, text=True, timeout=600, env=env
        )
        assert result.returncode == 2, result.stderr[-3000:]
        assert result.stderr.strip().splitlines()[-1] == (
            f"pulsewatch: gave up waiting for the lock on score_date {DAY} after 3 s: another "
            "session holds it (a concurrent run?); PULSEWATCH_LOCK_TIMEOUT_SECONDS sets the wait"
        )
        assert f"waiting for the lock on score_date {DAY} (held by another session" in (
            result.stderr
        )
        assert result.stderr.count("Retrying") == 0  # a lock timeout is not retried
        assert _waiting_backends(pg, holder_pid) == []  # the server stopped waiting too
    assert risk_by_employee(pg, DAY) == before


HOLD_THE_FILE = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""


@pytest.mark.cli
def test_a_duckdb_file_held_by_another_process_is_waited_for_then_refused(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_FILE, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        warehouse = warehouse_for_url(f"duckdb:///{path}")
        warehouse.lock_timeout = 2.5
        notices: list[str] = []
        warehouse.on_lock_wait = notices.append
        with pytest.raises(LockTimeoutError) as refused:
            warehouse.ping()
        assert str(refused.value) == (
            f"gave up waiting for the lock on the DuckDB file {path} after 2.5 s: another "
            "session holds it (a concurrent run?); PULSEWATCH_LOCK_TIMEOUT_SECONDS sets the wait"
        )
        assert notices == [
            f"waiting for the lock on the DuckDB file {path} (held by another session; giving "
            "up after 2.5 s, PULSEWATCH_LOCK_TIMEOUT_SECONDS)"
        ]
    finally:
        holder.kill()
        holder.wait()
    warehouse.ping()  # released: the same warehouse connects
    warehouse.close()
