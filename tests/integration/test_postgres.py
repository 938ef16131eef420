"""The same SQL and the whole nightly flow on the local PostgreSQL (a fresh schema per
session). Skipped when no server answers, except in CI."""

from datetime import date

import pandas as pd
import pytest

from flows.nightly import nightly_pipeline
from tasks.demo_data import DemoSpec, write_demo_data
from tasks.features import TrainingWindow, extract_training_frame
from tasks.registry import ensure_result_tables
from tests.conftest import DEMO_END_MONTH
from tests.support.feature_checks import (
    check_current_features_match,
    check_leave_month_boundary,
    check_no_leakage,
    check_scoring_frame,
    check_training_frame,
    scoring_frame,
)
from tests.support.flow_checks import active_employees, registry, risk_by_employee, score_rows
from tests.unit.test_warehouse import replace, scores, stored

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 20)


def test_training_features_and_labels(pg):
    check_training_frame(pg)


def test_leave_label_at_the_month_boundary(pg):
    check_leave_month_boundary(pg)


def test_scoring_frame_covers_every_active_employee(pg):
    check_scoring_frame(pg)


def test_no_leakage(pg):
    check_no_leakage(pg)


def test_scoring_and_training_features_agree(pg):
    check_current_features_match(pg)


def test_postgres_and_duckdb_extract_the_same_frame(pg, duck):
    spec = DemoSpec(employees=400, months=12, seed=5, end_month=DEMO_END_MONTH)
    window = TrainingWindow.ending(DAY, 8)
    frames = []
    for warehouse in (pg, duck):
        write_demo_data(warehouse, spec)
        frames.append(extract_training_frame(warehouse, window).reset_index(drop=True))
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=False, rtol=1e-9)


def test_partition_writer_is_idempotent_and_atomic(pg):
    ensure_result_tables(pg)
    ensure_result_tables(pg)
    assert replace(pg, DAY, [scores(DAY, range(100), 0.1)]) == 100
    assert replace(pg, DAY, [scores(DAY, range(70), 0.2, "m2")]) == 70
    assert len(stored(pg, DAY)) == 70

    def broken():
        yield scores(DAY, range(40), 0.9, "m3")
        raise ConnectionError("connection lost mid-load")

    with pytest.raises(ConnectionError):
        replace(pg, DAY, broken())
    after = stored(pg, DAY)
    assert len(after) == 70 and set(after.model_version) == {"m2"}


def test_nightly_flow_on_postgres(pg, prefect_api):
    write_demo_data(pg, DemoSpec(end_month=DEMO_END_MONTH))
    first = nightly_pipeline(score_date=DAY)
    active = active_employees(pg, DAY)
    assert first.training.status == "champion" and first.training.auc >= 0.75
    assert score_rows(pg, DAY) == (active, active)
    before = risk_by_employee(pg, DAY)
    second = nightly_pipeline(score_date=DAY)
    assert second.training is None
    assert score_rows(pg, DAY) == (active, active)
    assert risk_by_employee(pg, DAY) == before
    assert list(registry(pg).values()) == ["champion"]
    assert second.scoring.table == f"{pg.schema}.condition_scores"


# EXPLAIN inside the reader's transaction: ADBC wraps a query that returns rows in COPY, which
# cannot hold an EXPLAIN, so a function of this session runs it.
_EXPLAIN = """
CREATE FUNCTION pg_temp.plan_of(query TEXT) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE plan TEXT;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN plan;
END $$
"""


def _plan(warehouse, name: str, *settings: str) -> dict:
    """The plan PostgreSQL picks for the scoring frame after `settings` and the reader's own
    planner settings for query `name` (postgres_io.plan_read), in one ADBC transaction."""
    import json

    from tasks.dates import scoring_params
    from tasks.warehouse import postgres_io
    from tasks.warehouse.core import literal_sql

    query = literal_sql(
        warehouse.sql("scoring_frame"), scoring_params(DAY), warehouse.engine.dialect
    )
    with postgres_io.connect(warehouse) as conn, conn.cursor() as cursor:
        cursor.execute(_EXPLAIN)
        for setting in settings:
            cursor.execute(setting)
        postgres_io.plan_read(warehouse, cursor, name)
        cursor.execute("SELECT pg_temp.plan_of($1)", [query])
        return json.loads(cursor.fetchone()[0])[0]["Plan"]


def test_scoring_frame_runs_as_a_parallel_plan_with_one_worker_and_stays_the_same(
    pg, duck, monkeypatch
):
    """The reader lets the scoring frame's join run in parallel, leader plus at most one worker,
    and never more than the server allows; the rows are DuckDB's, row for row. Demo-sized
    tables would never get a parallel plan, so this session makes parallel scans free."""
    from tasks.warehouse import postgres_io, warehouse_for_url

    for warehouse in (pg, duck):
        write_demo_data(warehouse, DemoSpec(400, 12, 5, DEMO_END_MONTH))
    free = {"options": "-c min_parallel_table_scan_size=0 -c parallel_setup_cost=0"}
    url = pg.engine.url.update_query_dict(free).render_as_string(hide_password=False)
    parallel = warehouse_for_url(url, pg.schema)
    planned, plan_read = [], postgres_io.plan_read  # names the reader planned reads for

    def recorded(warehouse, cursor, name):
        planned.append(name)
        plan_read(warehouse, cursor, name)  # the real one

    monkeypatch.setattr(postgres_io, "plan_read", recorded)
    try:
        frames = [scoring_frame(warehouse, DAY) for warehouse in (parallel, duck)]
        monkeypatch.undo()
        assert "scoring_frame" in planned
        allowed = "SET max_parallel_workers_per_gather = 4"
        plan = _plan(parallel, "scoring_frame", allowed)
        assert plan["Node Type"] == "Gather" and plan["Workers Planned"] == 1
        assert _plan(parallel, "source_profile", allowed)["Node Type"] != "Gather"  # not for it
        off = "SET max_parallel_workers_per_gather = 0"  # a DBA who turned parallelism off
        assert _plan(parallel, "scoring_frame", off)["Node Type"] != "Gather"
    finally:
        parallel.close()
    assert len(frames[0]) > 300
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=False, rtol=1e-9)


def test_parallel_read_settings_stay_in_the_reads_transaction_and_under_the_servers(pg):
    """plan_read lowers the two settings, never raises them above what the session already had,
    and leaves them as they were once the read's transaction ends."""
    from tasks.warehouse import postgres_io

    def settings(cursor) -> tuple[str, str]:
        cursor.execute(
            "SELECT current_setting('parallel_tuple_cost'), "
            "current_setting('max_parallel_workers_per_gather')"
        )
        return tuple(cursor.fetchone())

    with postgres_io.connect(pg) as conn, conn.cursor() as cursor:
        cursor.execute("SET parallel_tuple_cost = 0.5")
        cursor.execute("SET max_parallel_workers_per_gather = 4")
        conn.commit()
        postgres_io.plan_read(pg, cursor, "scoring_frame")
        assert settings(cursor) == ("0.01", "1")
        conn.commit()  # (a rollback would undo even a session-level SET)
        assert settings(cursor) == ("0.5", "4")  # transaction-local: the session is untouched
        cursor.execute("SET parallel_tuple_cost = 0.001")
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        conn.commit()
        postgres_io.plan_read(pg, cursor, "scoring_frame")
        assert settings(cursor) == ("0.001", "0")  # lower server values are kept


def test_a_warehouse_that_accepts_but_never_answers_times_out_on_both_libpq_paths():
    """A loopback listener that accepts the TCP connection and never answers libpq's startup
    (stricter than a closed port, which fails at once; this is what a stuck proxy or a paused
    endpoint looks like): SQLAlchemy's psycopg2 connection and ADBC's both give up with libpq's
    "timeout expired", as the URL's connect_timeout says, instead of waiting for ever."""
    import socket
    import threading

    from tasks.warehouse import warehouse_for_url
    from tasks.warehouse.postgres_io import connect

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # accepted, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    warehouse = warehouse_for_url(f"postgresql+psycopg2://u@127.0.0.1:{port}/db?connect_timeout=2")
    try:
        with pytest.raises(Exception, match="timeout expired"):
            warehouse.ping()
        with pytest.raises(Exception, match="timeout expired"):
            connect(warehouse)
    finally:
        stop.set()
        thread.join()
        warehouse.close()
        for connection in held:
            connection.close()
        listener.close()
