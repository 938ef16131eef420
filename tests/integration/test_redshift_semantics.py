"""The Redshift path against what Amazon documents and a friendly stand-in hides: empty
UNLOADs, unordered UNLOAD files, COPY's Parquet rules, serializable isolation and ANALYZE's
privilege -- on the strict emulation (tests/support/redshift_emulation.py: PostgreSQL + moto)."""

from __future__ import annotations

import re
import threading
import uuid
from contextlib import contextmanager
from datetime import date

import numpy as np
import pytest
import sqlalchemy as sa

from tasks import feature_store
from tasks.demo_data import write_demo_data
from tasks.errors import DataContractError
from tasks.feature_store import forget_features, prepare_features
from tasks.features import TrainingWindow, extract_training_data
from tasks.registry import ensure_result_tables
from tasks.results import scored_dates
from tasks.retries import is_transient
from tasks.source_checks import SourceWindow, check_column_types, check_values, profile_source
from tasks.training import TrainingConfig, fit_streamed
from tasks.warehouse import redshift_io
from tasks.warehouse.core import as_arrow
from tests.conftest import POSTGRES_URL, SMALL_DEMO
from tests.support import sql_cases
from tests.support.redshift_emulation import ROLE, emulated_redshift, s3_keys
from tests.unit.test_warehouse import scores, stored

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 20)


# -- UNLOAD of zero rows ---------------------------------------------------------------------
def test_empty_unload_writes_no_file_and_reads_as_typed_zero_rows(redshift, pg, aws):
    ensure_result_tables(pg)
    empty = redshift.read("scored_dates", {"start_date": DAY, "end_date": DAY})
    assert redshift.statements[-1].startswith("UNLOAD (")  # the UNLOAD path, not the cursor
    assert list(empty.columns) == ["score_date"] and len(empty) == 0
    assert scored_dates(redshift, DAY, DAY) == set()  # was KeyError: 'score_date'

    redshift.replace_partition("condition_scores", "score_date", DAY, [scores(DAY, range(3), 0.1)])
    full = redshift.read("scored_dates", {"start_date": DAY, "end_date": DAY})
    assert dict(empty.dtypes) == dict(full.dtypes)  # the same types as a non-empty result
    assert scored_dates(redshift, DAY, DAY) == {DAY}
    assert s3_keys(aws) == []


def test_column_type_check_on_empty_source_tables(redshift, pg):
    """Before any survey row exists the type check has nothing to sample: it passes, and does
    not fail on a frame without columns."""
    with pg.transaction() as tx:
        tx.ensure_schema()
        tx.execute_script("create_source_tables")
        tx.execute_script("clear_source_tables")
    check_column_types(redshift)  # was KeyError: 'employee_id'


# -- UNLOAD files in no particular order ------------------------------------------------------
def test_training_rows_and_model_do_not_depend_on_the_unload_order(pg, aws, tmp_path):
    """Three UNLOADs that deal the rows to their files in different orders train the model the
    PostgreSQL path trains, row for row and bit for bit."""
    write_demo_data(pg, SMALL_DEMO)
    end = date(2026, 3, 5)
    window = TrainingWindow.ending(end, 10)
    config = TrainingConfig(num_boost_round=20)

    def spilled_and_model(warehouse, name):
        with extract_training_data(warehouse, window, tmp_path / name) as data:
            ids = np.concatenate([c.employee_ids() for c in data.chunks])
            rows = np.concatenate([c.features() for c in data.chunks])
            names = np.array([*data.departments, ""])  # codes: in order of first appearance
            codes = rows[:, 0]
            departments = names[np.where(np.isnan(codes), -1, codes).astype(int)]
            rows = np.column_stack([departments, rows[:, 1:].astype(str)])
            model = fit_streamed(data, config, end)
            return ids, rows, model.booster.model_to_string()

    expected = spilled_and_model(pg, "pg")
    for seed in (1, 2, 3):
        redshift = emulated_redshift(POSTGRES_URL, pg.schema, aws, ROLE, seed=seed)
        with redshift:
            ids, rows, model = spilled_and_model(redshift, f"rs{seed}")
        np.testing.assert_array_equal(ids, expected[0])
        np.testing.assert_array_equal(rows, expected[1])
        assert model == expected[2], f"seed {seed}: another model"


def test_first_offending_key_does_not_depend_on_the_unload_order(pg, aws):
    survey = sql_cases.responses()
    survey.loc[survey.index[2], "work_score"] = 11  # survey_responses.work_score: range
    survey.loc[survey.index[3], "health_score"] = -1  # .health_score: range, sorts first
    sql_cases.load(pg, survey)
    window = SourceWindow.for_scoring(date(2026, 7, 15))

    def first_problem(warehouse) -> str:
        with pytest.raises(DataContractError) as caught:
            check_values(warehouse, window, profile_source(warehouse, window, DAY), DAY)
        return str(caught.value)

    def without_run_id(message: str) -> str:
        # each refusal outside a flow run records its keys under a run id of its own
        return re.sub(r"flow_run_id = '[^']*'", "flow_run_id = '…'", message)

    expected = without_run_id(first_problem(pg))
    assert expected.startswith("survey_responses.health_score: 1 values outside 0-10")
    for seed in range(6):
        with emulated_redshift(POSTGRES_URL, pg.schema, aws, ROLE, seed=seed) as redshift:
            assert without_run_id(first_problem(redshift)) == expected, f"seed {seed}"


# -- COPY … FORMAT AS PARQUET ------------------------------------------------------------------
def test_copy_refuses_what_redshift_refuses_and_keeps_the_previous_rows(
    redshift, pg, aws, monkeypatch
):
    ensure_result_tables(pg)
    redshift.replace_partition("condition_scores", "score_date", DAY, [scores(DAY, range(5), 0.1)])

    def attempt(batch) -> str:
        with pytest.raises(sa.exc.InternalError) as caught:
            redshift.replace_partition("condition_scores", "score_date", DAY, [batch])
        assert len(stored(pg, DAY)) == 5 and s3_keys(aws) == []
        return str(caught.value.orig).splitlines()[0]

    text_ids = scores(DAY, range(3), 0.2).astype({"employee_id": str})
    assert "incompatible Parquet schema for column 'employee_id'. Column type: BIGINT" in attempt(
        text_ids
    )
    extra = scores(DAY, range(3), 0.2).assign(extra=1)
    assert "Unmatched number of columns between table and file" in attempt(extra)
    monkeypatch.setattr(redshift_io, "PARQUET_COMPRESSION", "zstd")
    assert "unsupported compression ZSTD" in attempt(scores(DAY, range(3), 0.2))


def test_staged_parquet_is_snappy(aws, tmp_path):
    import io

    import pyarrow.parquet as pq

    payload = redshift_io.pa_buffer(as_arrow(scores(DAY, range(3), 0.1)))
    metadata = pq.ParquetFile(io.BytesIO(payload)).metadata
    codecs = {metadata.row_group(0).column(i).compression for i in range(metadata.num_columns)}
    assert codecs == {"SNAPPY"}


# -- serializable isolation --------------------------------------------------------------------
def test_feature_build_locks_both_tables_first_in_one_order(redshift, pg):
    sql_cases.load(pg)
    ensure_result_tables(pg)
    forget_features(pg)
    sent: list[str] = []
    sa.event.listen(
        redshift.engine, "before_cursor_execute", lambda c, cur, s, *a: sent.append(s.strip())
    )
    assert prepare_features(redshift, date(2026, 6, 15)).built
    # each LOCK waits under a statement timeout (PULSEWATCH_LOCK_TIMEOUT_SECONDS), reset after
    sent = [s for s in sent if not s.startswith("SET statement_timeout")]
    first = next(i for i, s in enumerate(sent) if s.startswith("LOCK "))
    assert sent[first : first + 2] == [
        f"LOCK {redshift.qualified('employee_features')}",
        f"LOCK {redshift.qualified('feature_snapshots')}",
    ]
    assert "feature_snapshots" in sent[first + 2]  # the first read comes after both locks


def _retrying(action, attempts: int = 4):
    """What IO_RETRIES does for a task: retry what tasks.retries calls transient."""
    for attempt in range(attempts):
        try:
            return action()
        except Exception as error:
            if attempt == attempts - 1 or not is_transient(error):
                raise
    raise AssertionError("unreachable")


def test_two_concurrent_snapshot_builds_conflict_and_retry_to_one_snapshot(pg, aws):
    """Two runs rebuild the same month at once (its source rows changed), at Redshift's one
    isolation level. The second run's build transaction had begun -- taken its snapshot, as a driver's or pool's first
    statement does -- before the first run committed its build. Its writes then conflict:
    Redshift's "1023 … Serializable isolation violation" (XX000), which the I/O retry cures.
    The retried build finds the snapshot current: one snapshot, the right row count."""
    sql_cases.load(pg)
    ensure_result_tables(pg)
    forget_features(pg)
    day = date(2026, 6, 15)
    assert prepare_features(pg, day).built  # last night's snapshot, then a late correction:
    with pg.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {pg.qualified('survey_responses')} SET work_score = 5"))
    second_began, first_done = threading.Event(), threading.Event()
    first = emulated_redshift(POSTGRES_URL, pg.schema, aws, ROLE)
    second = emulated_redshift(POSTGRES_URL, pg.schema, aws, ROLE)
    real_transaction = second.transaction

    @contextmanager
    def early_transaction():
        with real_transaction() as tx:
            if not second_began.is_set():  # the first attempt only
                tx.connection.exec_driver_sql("SELECT 1")  # the transaction's snapshot
                second_began.set()
                first_done.wait(30)
            yield tx

    second.transaction = early_transaction  # type: ignore[method-assign]
    results: dict[str, object] = {}

    def run(name, warehouse, before, after) -> None:
        try:
            before.wait(30)
            results[name] = _retrying(lambda: prepare_features(warehouse, day))
        except Exception as error:  # reported below
            results[name] = error
        finally:
            after.set()

    threads = [
        threading.Thread(target=run, args=("first", first, second_began, first_done)),
        threading.Thread(target=run, args=("second", second, threading.Event(), threading.Event())),
    ]
    threads[1]._args[2].set()  # the second starts at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    first.close()
    second.close()
    built, retried = results["first"], results["second"]
    assert isinstance(built, feature_store.FeatureSnapshot), built
    assert isinstance(retried, feature_store.FeatureSnapshot), retried
    assert second.serialization_failures == 1  # seen, as Redshift reports it
    assert built.built and not retried.built  # the retry found the snapshot current
    count = pg.fetch("feature_snapshot_count", {"feature_month": built.feature_month})
    assert int(count[0]["n"]) == built.employees == retried.employees == 1
    with pg.engine.connect() as conn:
        records = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM {pg.qualified('feature_snapshots')}")
        ).scalar_one()
    assert records == 1
    stored_key = pg.fetch("feature_snapshot_read", {"feature_month": built.feature_month})
    assert stored_key[0]["source_fingerprint"] == feature_store.snapshot_key(
        feature_store.snapshot_build_sql(pg), feature_store.source_fingerprint(pg, day)
    )  # the snapshot of the corrected rows


# -- ANALYZE without ownership -------------------------------------------------------------------
def test_analyze_refused_after_commit_is_a_warning_not_a_failed_run(pg, aws):
    sql_cases.load(pg)
    ensure_result_tables(pg)
    forget_features(pg)
    with pg.engine.begin() as conn:
        role = f"pw_writer_{uuid.uuid4().hex[:8]}"
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA {pg.schema} TO {role}"))
        conn.execute(sa.text(f"GRANT ALL ON ALL TABLES IN SCHEMA {pg.schema} TO {role}"))
    url = sa.make_url(POSTGRES_URL).set(username=role).render_as_string(hide_password=False)
    try:
        with emulated_redshift(url, pg.schema, aws, ROLE) as redshift:
            snapshot = prepare_features(redshift, date(2026, 6, 15))
        assert snapshot.built and snapshot.employees == 1
        assert snapshot.warning is not None
        assert "only table or database owner can analyze it" in snapshot.warning
        assert "the data is committed" in snapshot.warning
        assert prepare_features(pg, date(2026, 6, 15)).built is False  # committed
    finally:
        with pg.engine.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
