"""score_reasons is written with condition_scores, in one transaction per score date, on DuckDB,
PostgreSQL and the Redshift emulation (S3 COPY path): round trip, the latest_condition_scores
view with its reasons, idempotent re-runs, and a failure in either table leaving both tables'
previous rows of that date untouched."""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.errors import LoadVerificationError, PulsewatchError
from tasks.reasons import ReasonsFile
from tasks.registry import ensure_result_tables
from tasks.results import load_scores
from tasks.scoring import ScoreFile, score_to_file
from tasks.warehouse import Warehouse
from tests.support.tiny_model import frame, tiny_model

pytestmark = pytest.mark.integration
DAY, EARLIER = date(2026, 11, 20), date(2026, 11, 19)
REASON_COLUMNS = ["employee_id", "rank", "feature", "value", "contribution"]


@pytest.fixture(params=["duckdb", "postgresql", "redshift"])
def target(request: pytest.FixtureRequest) -> Warehouse:
    name = {"duckdb": "duck", "postgresql": "pg", "redshift": "redshift"}[request.param]
    warehouse = request.getfixturevalue(name)
    ensure_result_tables(warehouse)
    return warehouse


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def night(model, day, tmp_path, seed, name) -> ScoreFile:
    rows = frame(400, seed=seed)
    return score_to_file(
        iter([rows.iloc[:250], rows.iloc[250:]]),
        model,
        f"m-{seed}",
        day,
        "run",
        tmp_path / f"scores-{name}.parquet",
        1,
        0.1,
        400,
    )


def table(warehouse: Warehouse, name: str, day: date, order: str) -> pd.DataFrame:
    with warehouse.engine.connect() as conn:
        return pd.read_sql_query(
            f"SELECT * FROM {warehouse.qualified(name)} WHERE score_date = '{day}' "
            f"ORDER BY {order}",
            conn,
        )


def reasons_of(warehouse: Warehouse, day: date) -> pd.DataFrame:
    return table(warehouse, "score_reasons", day, "employee_id, rank")


def file_reasons(scores: ScoreFile) -> pd.DataFrame:
    rows = pq.read_table(scores.explained().path).to_pandas()
    return rows.sort_values(["employee_id", "rank"]).reset_index(drop=True)


def test_round_trip_view_and_idempotent_rerun(target, model, tmp_path):
    earlier = night(model, EARLIER, tmp_path, 1, "earlier")
    load_scores(target, earlier)
    scores = night(model, DAY, tmp_path, 2, "day")
    assert scores.explained().rows > 40
    for _ in range(2):  # a retry or a second run replaces, never adds
        assert load_scores(target, scores) == 400
        stored = reasons_of(target, DAY)
        expected = file_reasons(scores)
        assert len(stored) == scores.explained().rows
        pd.testing.assert_frame_equal(
            stored[REASON_COLUMNS].astype({"rank": "int64"}),
            expected[REASON_COLUMNS].astype({"rank": "int64"}),
            check_dtype=False,
        )
        assert set(stored["model_version"]) == {"m-2"} and set(stored["flow_run_id"]) == {"run"}
    assert len(reasons_of(target, EARLIER)) == earlier.explained().rows  # the other date is kept

    view = table(target, "latest_condition_scores", DAY, "employee_id")
    assert len(view) == 400 and set(view["score_date"].astype(str)) == {str(DAY)}
    with_reasons = view.dropna(subset=["reason_1"])
    assert len(with_reasons) == scores.stats["reasons"]["employees"]
    # the view's reasons are the table's, rank by rank
    expected = file_reasons(scores).set_index(["employee_id", "rank"])
    for row in with_reasons.itertuples():
        for rank in (1, 2, 3):
            feature = getattr(row, f"reason_{rank}")
            if (row.employee_id, rank) not in expected.index:
                assert feature is None or pd.isna(feature)
                continue
            want = expected.loc[(row.employee_id, rank)]
            assert feature == want["feature"]
            assert getattr(row, f"reason_{rank}_contribution") == pytest.approx(
                want["contribution"]
            )
    # the highest risks are the ones with reasons
    lowest_with = with_reasons["risk_score"].min()
    assert (view.loc[view["reason_1"].isna(), "risk_score"] < lowest_with).all()


def _with_reasons(scores: ScoreFile, reasons: ReasonsFile | BaseException) -> ScoreFile:
    """The same night, its reasons explained as `reasons` (a file, or the error explaining them
    raised)."""
    done: Future[ReasonsFile] = Future()
    if isinstance(reasons, BaseException):
        done.set_exception(reasons)
    else:
        done.set_result(reasons)
    return dataclasses.replace(scores, reasons=done)


def _broken_reasons(scores: ScoreFile, tmp_path) -> ScoreFile:
    """The same night's reasons with one row whose feature is NULL (NOT NULL in the table)."""
    explained = scores.explained()
    rows = pq.read_table(explained.path)
    feature = rows.column("feature").to_pylist()
    feature[-1] = None
    broken = rows.set_column(rows.schema.get_field_index("feature"), "feature", pa.array(feature))
    path = tmp_path / "scores-broken-reasons.parquet"
    pq.write_table(broken, path)
    return _with_reasons(scores, dataclasses.replace(explained, path=str(path)))


@pytest.mark.parametrize(
    "failure", ["reasons rejected by the table", "reasons count wrong", "explaining failed"]
)
def test_a_failure_in_either_table_keeps_both_tables_previous_rows(
    target, model, tmp_path, failure
):
    first = night(model, DAY, tmp_path, 3, "first")
    load_scores(target, first)
    before_scores = table(target, "condition_scores", DAY, "employee_id")
    before_reasons = reasons_of(target, DAY)

    second = night(model, DAY, tmp_path, 4, "second")  # other employees' features, other risks
    if failure == "reasons count wrong":
        explained = second.explained()
        bad = _with_reasons(second, dataclasses.replace(explained, rows=explained.rows + 1))
        with pytest.raises(LoadVerificationError, match=r"score_reasons score_date=2026-11-20"):
            load_scores(target, bad)
    elif failure == "explaining failed":  # the background TreeSHAP raised (tasks/scoring.py)
        bad = _with_reasons(second, PulsewatchError("TreeSHAP stopped"))
        with pytest.raises(PulsewatchError, match="TreeSHAP stopped"):
            load_scores(target, bad)
    else:
        with pytest.raises(Exception, match=r"(?i)null"):
            load_scores(target, _broken_reasons(second, tmp_path))

    pd.testing.assert_frame_equal(
        table(target, "condition_scores", DAY, "employee_id"), before_scores
    )
    pd.testing.assert_frame_equal(reasons_of(target, DAY), before_reasons)
    assert set(before_scores["model_version"]) == {"m-3"}


def test_a_failure_in_condition_scores_keeps_the_previous_reasons(target, model, tmp_path):
    first = night(model, DAY, tmp_path, 5, "first")
    load_scores(target, first)
    before = reasons_of(target, DAY)
    second = night(model, DAY, tmp_path, 6, "second")
    with pytest.raises(LoadVerificationError, match=r"condition_scores score_date=2026-11-20"):
        load_scores(target, dataclasses.replace(second, stats={**second.stats, "rows": 399}))
    pd.testing.assert_frame_equal(reasons_of(target, DAY), before)
    assert set(table(target, "condition_scores", DAY, "employee_id")["model_version"]) == {"m-5"}


def test_a_view_from_before_reasons_is_migrated(target):
    """A latest_condition_scores created before its reasons columns (Redshift's CREATE OR
    REPLACE VIEW cannot add columns) is dropped and created anew, once."""
    from tasks.registry import migrate_latest_view

    view, scores = target.qualified("latest_condition_scores"), target.qualified("condition_scores")
    with target.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP VIEW {view}")
        conn.exec_driver_sql(
            f"CREATE VIEW {view} AS SELECT s.score_date, s.employee_id, s.risk_score, "
            f"s.model_version, s.scored_at FROM {scores} AS s"
        )
    assert not target.column_exists("latest_condition_scores", "reason_1")
    assert migrate_latest_view(target) is True
    assert not target.table_exists("latest_condition_scores")
    ensure_result_tables(target)
    assert target.column_exists("latest_condition_scores", "reason_3_contribution")
    assert migrate_latest_view(target) is False  # current: left alone
