"""The production path on a real Amazon Redshift account: `make test-redshift`.

Needs PULSEWATCH_TEST_REDSHIFT_URL (a `redshift+psycopg2://` URL), PULSEWATCH_TEST_S3_STAGING
(s3://bucket/prefix in the cluster's region) and PULSEWATCH_TEST_REDSHIFT_IAM_ROLE (a role
associated with the cluster, allowed to read and write that prefix); skipped otherwise, and
never run by `make test` (tests/conftest.py). Everything happens in a throwaway schema that is
dropped afterwards. Nothing here is emulated: these are the statements AWS documents.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.demo_data import DemoSpec, generate
from tasks.feature_store import forget_features, prepare_features, stream_scoring_frames
from tasks.features import TrainingWindow, extract_training_data
from tasks.results import scored_dates
from tasks.retries import is_transient
from tasks.settings import get_settings
from tasks.source_checks import SourceWindow, check_source_data
from tasks.warehouse import Warehouse, warehouse_for_url
from tests.unit.test_warehouse import scores, stored

pytestmark = pytest.mark.redshift
ENV = {
    name: os.environ.get(name, "")
    for name in (
        "PULSEWATCH_TEST_REDSHIFT_URL",
        "PULSEWATCH_TEST_S3_STAGING",
        "PULSEWATCH_TEST_REDSHIFT_IAM_ROLE",
    )
}
DEMO = DemoSpec(employees=300, months=14, seed=5, end_month=date(2026, 10, 1))
DAY = date(2026, 11, 20)


def _open(schema: str) -> Warehouse:
    return warehouse_for_url(
        ENV["PULSEWATCH_TEST_REDSHIFT_URL"],
        schema,
        s3_staging=ENV["PULSEWATCH_TEST_S3_STAGING"],
        iam_role=ENV["PULSEWATCH_TEST_REDSHIFT_IAM_ROLE"],
    )


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = f"pw_test_{uuid.uuid4().hex[:10]}"
    yield name
    with _open(name) as warehouse, warehouse.engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))


@pytest.fixture(scope="module")
def redshift(schema: str) -> Iterator[Warehouse]:
    """The schema with the demo population, loaded through the production COPY path (Redshift
    takes no local bulk insert): per department and per survey month, one partition each."""
    warehouse = _open(schema)
    with warehouse.transaction() as tx:
        tx.ensure_schema()
        tx.execute_script("create_source_tables")
        tx.execute_script("create_result_tables")
    staff, responses = (
        pd.concat(parts, ignore_index=True) for parts in zip(*generate(DEMO), strict=True)
    )
    for department, rows in staff.groupby("department"):
        warehouse.replace_partition("employees", "department", department, [rows])
    for month, rows in responses.groupby("survey_month"):
        warehouse.replace_partition("survey_responses", "survey_month", month, [rows])
    yield warehouse
    warehouse.close()


def test_copy_unload_round_trip_and_empty_unload(redshift):
    assert scored_dates(redshift, DAY, DAY) == set()  # zero rows: UNLOAD wrote no file
    assert (
        redshift.replace_partition(
            "condition_scores", "score_date", DAY, [scores(DAY, range(250), 0.4)], 250
        )
        == 250
    )
    assert scored_dates(redshift, DAY, DAY) == {DAY}
    back = stored(redshift, DAY)
    assert len(back) == 250 and back.employee_id.is_unique


def test_every_query_of_a_night_runs_on_redshift(redshift, tmp_path):
    """Source checks, feature snapshot, scoring read and the training extract: every .sql the
    nightly path sends, through UNLOAD and COPY."""
    window = SourceWindow.for_scoring(DAY)
    fingerprint = check_source_data(redshift, window, DAY)
    forget_features(redshift)
    snapshot = prepare_features(redshift, DAY, fingerprint=fingerprint)
    assert snapshot.built and snapshot.employees > 0
    frames = list(stream_scoring_frames(redshift, DAY, 1000))
    assert sum(len(f) for f in frames) > 0
    training = TrainingWindow.ending(DAY, 6)
    with extract_training_data(redshift, training, tmp_path) as data:
        assert data.rows > 0 and len(data.months) == 6


def test_two_concurrent_snapshot_builds_leave_one_snapshot(redshift, schema):
    forget_features(redshift)
    results: list[object] = []

    def build() -> None:
        with _open(schema) as warehouse:
            for attempt in range(4):
                try:
                    results.append(prepare_features(warehouse, DAY))
                    return
                except Exception as error:
                    if attempt == 3 or not is_transient(error):
                        results.append(error)
                        return

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.built for r in results) == [False, True]  # type: ignore[union-attr]
    month = results[0].feature_month  # type: ignore[union-attr]
    count = redshift.fetch("feature_snapshot_count", {"feature_month": month})
    assert int(count[0]["n"]) == results[0].employees  # type: ignore[union-attr]


def test_nightly_flow_end_to_end(redshift, schema, tmp_path, monkeypatch, prefect_api):
    from flows.nightly import nightly_pipeline

    monkeypatch.setenv("PULSEWATCH_WAREHOUSE_URL", ENV["PULSEWATCH_TEST_REDSHIFT_URL"])
    monkeypatch.setenv("PULSEWATCH_SCHEMA", schema)
    monkeypatch.setenv("PULSEWATCH_S3_STAGING", ENV["PULSEWATCH_TEST_S3_STAGING"])
    monkeypatch.setenv("PULSEWATCH_REDSHIFT_IAM_ROLE", ENV["PULSEWATCH_TEST_REDSHIFT_IAM_ROLE"])
    get_settings.cache_clear()
    report = nightly_pipeline(score_date=DAY, training_months=8, auc_floor=0.5)
    scored = stored(redshift, DAY)
    assert len(scored) == report.scoring.rows > 0 and scored.employee_id.is_unique
