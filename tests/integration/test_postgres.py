"""The same SQL and the whole nightly flow on the local PostgreSQL (a fresh schema per
session). Skipped when no server answers, except in CI."""

from datetime import date

import pytest

from flows.nightly import nightly_pipeline
from tasks.demo_data import DemoSpec, write_demo_data
from tasks.features import TrainingWindow, extract_training_frame
from tasks.registry import ensure_result_tables
from tests.conftest import DEMO_END_MONTH
from tests.feature_checks import (
    check_current_features_match,
    check_feature_snapshots,
    check_no_leakage,
    check_scoring_frame,
    check_training_frame,
)
from tests.flow_checks import active_employees, registry, risk_by_employee, score_rows
from tests.unit.test_warehouse import replace, scores, stored

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 20)


def test_training_features_and_labels(pg):
    check_training_frame(pg)


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
    import pandas as pd

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


def test_feature_snapshot_is_reused_until_its_source_rows_change(pg):
    check_feature_snapshots(pg)
