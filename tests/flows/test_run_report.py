"""The nightly run's own result artifact and log line, and the keyed history artifacts, read
back from the Prefect API after real runs (a trained night, a failed night, a fresh-model
night) on the embedded warehouse."""

import json
import logging
import re
from datetime import date

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.client.schemas.sorting import ArtifactSort

from flows.nightly import nightly_pipeline
from tasks.dates import feature_month_for
from tests.support.flow_checks import active_employees

pytestmark = pytest.mark.flow
FIRST, FAILED, NIGHT = date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11)


def _artifact(key: str, flow_run_id=None):
    """The newest artifact of `key` (of one flow run when given)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]) if flow_run_id else None,
            ),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert found, key
    return found[0]


def _table(key: str) -> list[dict]:
    data = _artifact(key).data
    return json.loads(data) if isinstance(data, str) else data


def _mean_and_high(warehouse, day: date) -> tuple[float, int]:
    query = (
        "SELECT AVG(risk_score), SUM(CASE WHEN risk_score >= 0.5 THEN 1 ELSE 0 END) "
        f"FROM {warehouse.qualified('condition_scores')} WHERE score_date = :d"
    )
    with warehouse.engine.connect() as conn:
        mean, high = conn.execute(sa.text(query), {"d": day}).one()
    return float(mean), int(high)


def _break_then_restore(warehouse, day: date):
    """One out-of-range score in `day`'s feature month; returns a function that restores it."""
    table, month = warehouse.qualified("survey_responses"), feature_month_for(day)
    with warehouse.engine.begin() as conn:
        employee, score = conn.execute(
            sa.text(
                f"SELECT employee_id, work_score FROM {table} WHERE survey_month = :m "
                "AND work_score IS NOT NULL ORDER BY employee_id LIMIT 1"
            ),
            {"m": month},
        ).one()
        update = f"UPDATE {table} SET work_score = :s WHERE survey_month = :m AND employee_id = :e"
        conn.execute(sa.text(update), {"s": 99, "m": month, "e": employee})

    def restore() -> None:
        with warehouse.engine.begin() as conn:
            conn.execute(sa.text(update), {"s": score, "m": month, "e": employee})

    return restore


def test_the_nightly_run_shows_its_result_and_the_history(demo_warehouse, caplog):
    first = nightly_pipeline(score_date=FIRST)  # trains the champion
    restore = _break_then_restore(demo_warehouse, FAILED)
    failed = nightly_pipeline(score_date=FAILED, return_state=True)
    assert failed.is_failed()
    restore()
    caplog.set_level(logging.INFO)
    state = nightly_pipeline(score_date=NIGHT, return_state=True)
    assert state.is_completed(), state.message
    report = state.result()
    assert report.training is None  # the champion of FIRST is fresh
    rows = active_employees(demo_warehouse, NIGHT)
    assert report.scoring.rows == rows > 1000
    version, auc = first.training.model_version, first.training.auc

    # The night's own artifact, on this run.
    result = _artifact("nightly-result", state.state_details.flow_run_id)
    text = result.data
    assert "2026-11-11" in result.description and f"{rows:,} employees" in result.description
    assert "# Nightly result for 2026-11-11" in text
    assert f"| model | `{version}` (validation AUC {auc:.4f}) |" in text
    assert f"| trained tonight | no: champion {version} (cut-off {FIRST}) is fresh |" in text
    assert f"| employees scored | {rows:,} |" in text
    assert re.search(r"\| duration \| (\d+m )?\d+s \|", text)
    assert f"/runs/flow-run/{state.state_details.flow_run_id})" in text
    # Beside the previous scored night (FIRST: FAILED has no scores), as the warehouse has it.
    assert "| previous night (2026-11-09) | share |" in text
    prev_mean, prev_high = _mean_and_high(demo_warehouse, FIRST)
    assert f"| mean risk | {report.scoring.stats['mean']:.3f} | | {prev_mean:.3f} | |" in text
    high = report.scoring.stats["high_risk"]
    assert f"| at or above 0.5 | {high:,} | {100 * high / rows:.1f}% | {prev_high:,} |" in text
    # The previous night's deciles (SQL) equal that run's own (Python) histogram.
    for i, count in enumerate(first.scoring.stats["histogram"]):
        line = next(x for x in text.splitlines() if x.startswith(f"| {i / 10:.1f} to "))
        assert line.split("|")[4].strip() == f"{count:,}", line
    ids = [str(e) for e in _employee_ids(demo_warehouse, NIGHT)]
    assert not any(re.search(rf"\b{i}\b", text) for i in ids)

    # The INFO line says the same.
    line = next(
        r.getMessage() for r in caplog.records if r.getMessage().startswith("Nightly 2026-11-11")
    )
    assert line.startswith(f"Nightly 2026-11-11: model {version} (validation AUC {auc:.4f})")
    assert f"scored {rows:,} employees" in line and "previous night 2026-11-09" in line

    # History: the three nights, newest first, states from Prefect, numbers from the warehouse.
    history = {row["date"]: row for row in _table("nightly-history")}
    assert history["2026-11-11"]["state"] == "Completed"
    assert history["2026-11-11"]["rows"] == f"{rows:,}"
    assert history["2026-11-10"]["state"] == "Failed"
    assert history["2026-11-10"]["rows"] == "\u2013"
    assert history["2026-11-09"]["AUC"] == f"{auc:.4f}"
    assert history["2026-11-09"]["mean risk"] == f"{prev_mean:.3f}"
    assert history["2026-11-09"][">= 0.5"] == f"{prev_high:,}"
    assert "2026-11-11" in _artifact("nightly-history").description

    models = _table("model-history")
    assert [(m["model"], m["status"]) for m in models] == [(version, "champion")]
    assert models[0]["why"] == first.training.reason  # the gate's own words, from Prefect
    assert models[0]["cut-off"] == str(FIRST)

    grid = _artifact("score-date-status")
    assert grid.description == "Score dates 2026-09-13 to 2026-11-11"
    assert grid.data.startswith("# Score dates 2026-09-13 to 2026-11-11\n")
    assert "2 scored, 1 failed, 57 missing (" in grid.data
    week = next(x for x in grid.data.splitlines() if x.startswith("| 2026-11-09 |"))
    assert week.startswith("| 2026-11-09 | 9 ok | [10 failed](") and "| 11 ok |" in week


def _employee_ids(warehouse, day: date) -> list[int]:
    query = (
        f"SELECT employee_id FROM {warehouse.qualified('condition_scores')} "
        "WHERE score_date = :d AND risk_score >= 0.5"
    )
    with warehouse.engine.connect() as conn:
        return [int(e) for (e,) in conn.execute(sa.text(query), {"d": day})]
