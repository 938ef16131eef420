"""Scenarios 1 and 2 on PostgreSQL: the loader's backend is killed mid-write
(pg_terminate_backend from another session), and two writers of the same date run at once.
Afterwards a date holds the complete previous scores or the complete new ones: never a mix,
never a duplicate."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from prefect import flow

import tasks.results
from tasks.demo_data import write_demo_data
from tasks.feature_store import forget_features, prepare_features
from tasks.prefect_tasks.results import load_scores_task
from tasks.registry import ensure_result_tables
from tasks.retries import is_transient
from tasks.scoring import SCORES_SCHEMA, ScoreFile
from tests.conftest import SMALL_DEMO
from tests.support.loader_faults import Gate, lock_holder, lock_waiters, terminate
from tests.unit.test_warehouse import replace, scores, stored

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 20)
EMPLOYEES = range(1_000, 1_600)  # 600 employees


@flow(name="load-only")
def load_only(score_file: ScoreFile) -> int:
    """The load-scores task as the score flow runs it (inside a flow run)."""
    return load_scores_task(score_file)


def _state(warehouse, day: date = DAY) -> dict[str, int]:
    """model_version -> rows stored for the date, after checking one row per employee."""
    frame = stored(warehouse, day)
    assert frame.employee_id.is_unique, "duplicate rows for one employee"
    return frame.model_version.value_counts().to_dict()


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture
def previous(pg):
    """The date already holds a complete set of scores from model 'old'."""
    ensure_result_tables(pg)
    replace(pg, DAY, [scores(DAY, EMPLOYEES, 0.1, "old")])
    return pg


def test_killed_backend_without_retry_leaves_the_previous_scores(previous):
    gate = Gate(
        [scores(DAY, EMPLOYEES[:300], 0.5, "new"), scores(DAY, EMPLOYEES[300:], 0.5, "new")]
    )
    outcome: dict[str, BaseException] = {}

    def write() -> None:
        try:
            replace(previous, DAY, gate, expected=600)
        except BaseException as error:
            outcome["error"] = error

    writer = threading.Thread(target=write)
    writer.start()
    assert gate.paused.wait(30)
    assert _state(previous) == {"old": 600}  # half a write is invisible to readers
    pid = lock_holder(previous, "condition_scores", DAY)
    assert pid is not None and terminate(previous, pid)
    gate.release.set()
    writer.join(30)
    error = outcome["error"]
    assert "terminating connection" in str(error)  # the real cause, not a rollback error
    assert is_transient(error)  # so the load-scores task's retry_condition_fn retries it
    assert _state(previous) == {"old": 600}


def test_load_scores_task_retries_after_the_backend_is_killed(
    previous, prefect_api, tmp_path, monkeypatch
):
    frame = scores(DAY, EMPLOYEES, 0.7, "new")
    frame["score_date"] = pa.array(frame["score_date"], pa.date32()).to_pandas()
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.Table.from_pandas(frame, schema=SCORES_SCHEMA, preserve_index=False), path)
    score_file = ScoreFile(str(path), DAY, "new", {"rows": 600})

    monkeypatch.setattr(tasks.results, "BATCH_ROWS", 200)  # three batches from the file
    real_batches = tasks.results._batches
    attempts: list[Gate] = []

    def gated(file: str):
        attempts.append(Gate(real_batches(file), after=1))
        if len(attempts) > 1:  # later attempts run straight through
            attempts[-1].release.set()
        return iter(attempts[-1])

    monkeypatch.setattr(tasks.results, "_batches", gated)
    seen_while_paused: list[dict] = []

    def kill_first_attempt() -> None:
        _wait_for(lambda: bool(attempts) and attempts[0].paused.is_set())
        seen_while_paused.append(_state(previous))
        pid = lock_holder(previous, "condition_scores", DAY)
        seen_while_paused.append({"killed": terminate(previous, pid)})
        attempts[0].release.set()

    killer = threading.Thread(target=kill_first_attempt)
    killer.start()
    written = load_only(score_file)
    killer.join(30)

    assert seen_while_paused == [{"old": 600}, {"killed": True}]
    assert len(attempts) == 2  # one retry after the lost connection
    assert written == 600
    assert _state(previous) == {"new": 600}
    assert not Path(path).exists()  # the local score file is removed after a good load


def test_concurrent_writers_of_one_date_are_serialised(previous):
    first = Gate([scores(DAY, EMPLOYEES[:300], 0.2, "A"), scores(DAY, EMPLOYEES[300:], 0.2, "A")])
    finished: list[str] = []
    errors: list[BaseException] = []

    def write(name: str, batches, day: date = DAY) -> None:
        try:
            replace(previous, day, batches, expected=len(EMPLOYEES))
            finished.append(name)
        except BaseException as error:
            errors.append(error)

    a = threading.Thread(target=write, args=("A", first))
    a.start()
    assert first.paused.wait(30)  # A holds the date's lock, half of its rows inserted
    b = threading.Thread(target=write, args=("B", [scores(DAY, EMPLOYEES, 0.3, "B")]))
    b.start()
    _wait_for(lambda: lock_waiters(previous, "condition_scores", DAY) == 1)
    other_day = date(2026, 11, 21)  # another date is not blocked by A
    write("other", [scores(other_day, EMPLOYEES, 0.4, "C")], other_day)
    time.sleep(0.5)
    assert b.is_alive() and finished == ["other"]  # B waits for A
    assert _state(previous) == {"old": 600}
    first.release.set()
    a.join(30)
    b.join(30)
    assert not errors and finished == ["other", "A", "B"]
    assert _state(previous) == {"B": 600}  # the last writer's complete set, once per employee
    assert _state(previous, other_day) == {"C": 600}


def test_concurrent_snapshot_builds_of_one_month_build_it_once(pg):
    """Two runs of one feature month (say, two backfill dates) find the snapshot missing at the
    same time: the month's lock serialises them, and the second finds the first's snapshot."""
    write_demo_data(pg, SMALL_DEMO)
    ensure_result_tables(pg)
    forget_features(pg)
    month = date(2026, 10, 1)  # feature month of both dates below
    results: list = []
    errors: list[BaseException] = []

    def prepare(day: date) -> None:
        try:
            results.append(prepare_features(pg, day))
        except BaseException as error:
            errors.append(error)

    with pg.transaction() as holder:  # hold the month's lock until both runs wait for it
        holder.lock_partition("employee_features", month.isoformat())
        runs = [threading.Thread(target=prepare, args=(d,)) for d in (DAY, date(2026, 11, 27))]
        for run in runs:
            run.start()
        _wait_for(lambda: lock_waiters(pg, "employee_features", month.isoformat()) == 2)
    for run in runs:
        run.join(60)
    assert not errors
    assert sorted(r.built for r in results) == [False, True]
    assert results[0].employees == results[1].employees > 300
    with pg.engine.connect() as conn:
        stored_rows = conn.execute(
            sa.text(
                f"SELECT COUNT(*), COUNT(DISTINCT employee_id) FROM "
                f"{pg.qualified('employee_features')} WHERE feature_month = :m"
            ),
            {"m": month},
        ).one()
    assert tuple(stored_rows) == (results[0].employees, results[0].employees)
