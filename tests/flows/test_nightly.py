"""The flows end to end on the embedded DuckDB warehouse with a real (temporary) Prefect API."""

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client

from flows.backfill import backfill
from flows.nightly import nightly_pipeline
from flows.score import score_population
from flows.train import train_model
from tasks.dates import feature_month_for
from tasks.errors import DataContractError, NoChampionError, WarehouseError
from tests.support.flow_checks import (
    active_employees,
    reasons_by_employee,
    registry,
    risk_by_employee,
    score_rows,
)

pytestmark = pytest.mark.flow
DAY = date(2026, 11, 20)


def test_nightly_trains_scores_and_is_idempotent(demo_warehouse):
    first = nightly_pipeline(score_date=DAY)
    active = active_employees(demo_warehouse, DAY)
    assert first.training is not None and first.training.status == "champion"
    assert first.training.auc >= 0.75
    assert first.scoring.rows == active > 1000
    assert score_rows(demo_warehouse, DAY) == (active, active)
    before = risk_by_employee(demo_warehouse, DAY)

    second = nightly_pipeline(score_date=DAY)
    assert second.training is None  # the champion is fresh
    assert second.scoring.model_version == first.training.model_version
    assert score_rows(demo_warehouse, DAY) == (active, active)
    assert risk_by_employee(demo_warehouse, DAY) == before
    assert list(registry(demo_warehouse).values()) == ["champion"]
    # reasons: the top decile of the night's risks (ties at the threshold included), written
    # with the scores, the same rows again on the second run
    reasons = reasons_by_employee(demo_warehouse, DAY)
    top = sorted(before.values(), reverse=True)
    k = -(-active // 10)
    explained = second.scoring.stats["reasons"]["selected"]
    assert explained == sum(r >= top[k - 1] for r in top) >= k
    assert min(before[e] for e in reasons) >= top[k - 1]
    assert len(reasons) == second.scoring.stats["reasons"]["employees"] > 0.9 * k
    assert all(1 <= len(features) <= 3 for features in reasons.values())
    # a night re-scored without reasons takes the date's old reasons with its old scores
    score_population(score_date=DAY, reasons_top_share=0.0)
    assert reasons_by_employee(demo_warehouse, DAY) == {}
    assert score_rows(demo_warehouse, DAY) == (active, active)


async def _task_run_names(root_id) -> list[str]:
    """Names of the task runs of a flow run and of its subflow runs, read from the API."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    async with get_client() as client:
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[root_id])
            )
        )
        ids = [root_id, *(c.id for c in children)]
        runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=ids))
        )
    return [r.name.rsplit("-", 1)[0] for r in runs if r.name]


def test_a_night_checks_the_tables_once(demo_warehouse):
    """nightly-pipeline, train-model and score-population each need the source tables checked
    and the result tables created; a night that trains and scores does each once."""
    import asyncio
    from collections import Counter

    state = nightly_pipeline(score_date=DAY, force_train=True, return_state=True)
    assert state.is_completed()
    counts = Counter(asyncio.run(_task_run_names(state.state_details.flow_run_id)))
    assert counts["fit-model"] == 1 and counts["score-employees"] == 1  # trained and scored
    assert counts["check-source-tables"] == 1
    assert counts["ensure-result-tables"] == 1
    # run on their own, the subflows still check (once)
    alone = score_population(score_date=DAY, return_state=True)
    counts = Counter(asyncio.run(_task_run_names(alone.state_details.flow_run_id)))
    assert counts["check-source-tables"] == counts["ensure-result-tables"] == 1


def test_rejected_candidate_keeps_the_champion_scoring(demo_warehouse):
    champion = train_model(train_end_date=DAY).model_version
    report = nightly_pipeline(score_date=DAY, force_train=True, auc_floor=0.99)
    assert report.training.status == "rejected"
    assert "below the floor 0.9900" in report.training.reason
    assert report.training.champion_auc is not None  # compared on the same months
    assert report.scoring.model_version == champion
    statuses = registry(demo_warehouse)
    assert statuses[champion] == "champion"
    assert sorted(statuses.values()) == ["champion", "rejected"]


def test_better_or_equal_candidate_retires_the_champion(demo_warehouse):
    old = train_model(train_end_date=DAY).model_version
    new = train_model(train_end_date=DAY)
    assert new.status == "champion" and new.champion_version == old
    assert abs(new.auc - new.champion_auc) < 1e-9  # same data, same seed: the same model
    assert registry(demo_warehouse) == {old: "retired", new.model_version: "champion"}


@pytest.mark.long
def test_backfill_runs_missing_dates_only(demo_duck):
    """Which dates a backfill runs, skips and redoes (on the small demo: the size proves
    nothing here; the 24-date PostgreSQL backfill runs the same flow at length)."""
    days = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
    dry = backfill(start=days[0], end=days[-1], dry_run=True)
    assert dry.planned == days and dry.done == []
    assert score_rows(demo_duck, days[0]) == (0, 0)

    done = backfill(start=days[0], end=days[-1])
    assert done.done == days and not done.failed
    for day in days:
        active = active_employees(demo_duck, day)
        assert score_rows(demo_duck, day) == (active, active)

    again = backfill(start=days[0], end=date(2026, 11, 4))
    assert again.skipped == days and again.done == [date(2026, 11, 4)]
    redo = backfill(start=days[0], end=days[0], reprocess="all")
    assert redo.done == [days[0]]
    assert score_rows(demo_duck, days[0])[0] == active_employees(demo_duck, days[0])


def test_missing_source_table_fails_before_writing(duck):
    with pytest.raises(WarehouseError, match=r"^source table employees is missing in duckdb:"):
        nightly_pipeline(score_date=DAY)
    assert not duck.table_exists("condition_scores")
    assert not duck.table_exists("model_registry")


def _corrupt_feature_month(warehouse, day: date) -> int:
    """One out-of-range score in the month a score date's features come from; its employee."""
    table = warehouse.qualified("survey_responses")
    month = {"m": feature_month_for(day)}
    with warehouse.engine.begin() as conn:
        victim = conn.execute(
            sa.text(f"SELECT MIN(employee_id) FROM {table} WHERE survey_month = :m"), month
        ).scalar_one()
        conn.execute(
            sa.text(
                f"UPDATE {table} SET work_score = 99 WHERE survey_month = :m AND employee_id = :v"
            ),
            {**month, "v": victim},
        )
    return int(victim)


def test_bad_scoring_month_stops_the_nightly_before_training_or_scoring(demo_warehouse):
    """The nightly flow leaves the source contract to its subflows: a bad row in the scoring
    window stops train-model before it fits (its window holds the scoring months) and, with a
    fresh champion, score-population before it scores."""
    champion = train_model(train_end_date=DAY).model_version
    _corrupt_feature_month(demo_warehouse, DAY)
    refused = r"^survey_responses\.work_score: 1 values outside 0-10"
    with pytest.raises(DataContractError, match=refused):
        nightly_pipeline(score_date=DAY, force_train=True)
    assert registry(demo_warehouse) == {champion: "champion"}  # no candidate was trained
    with pytest.raises(DataContractError, match=refused):
        nightly_pipeline(score_date=DAY)  # the champion is fresh: no training, scoring refuses
    assert score_rows(demo_warehouse, DAY) == (0, 0)


async def _prefect_records(since: datetime) -> list[str]:
    """Everything the API holds of the runs since `since`: logs, flow runs and task runs with
    their full states (message and data: what Prefect persisted of a failed task or flow)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterTimestamp,
        TaskRunFilter,
        TaskRunFilterStartTime,
    )

    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(timestamp=LogFilterTimestamp(after_=since)), limit=200
        )
        flow_runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
        )
        task_runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(start_time=TaskRunFilterStartTime(after_=since))
        )
        states = [
            state.model_dump_json()
            for run in flow_runs
            for state in await client.read_flow_run_states(run.id)
        ]
    return (
        [log.message for log in logs]
        + [run.model_dump_json() for run in (*flow_runs, *task_runs)]
        + states
    )


async def _flow_name(flow_run_id: str) -> str:
    from uuid import UUID

    async with get_client() as client:
        run = await client.read_flow_run(UUID(flow_run_id))
        return (await client.read_flow(run.flow_id)).name


def test_a_refused_run_leaves_no_employee_id_in_prefect(demo_warehouse):
    """Issue 16.6: a contract error names the table, column, count and month; the offending
    key stays in the warehouse's source_issues, and neither the API's flow-run and task-run
    states (messages, persisted data) nor the logs hold an employee id."""
    import asyncio

    victim = _corrupt_feature_month(demo_warehouse, DAY)
    since = datetime.now(UTC)
    with pytest.raises(DataContractError, match=r"source_issues WHERE flow_run_id = '") as caught:
        score_population(score_date=DAY)
    run_id = str(caught.value).split("flow_run_id = '")[1].split("'")[0]
    assert asyncio.run(_flow_name(run_id)) == "score-population"  # the run's own id, not local-
    table = demo_warehouse.qualified("source_issues")
    with demo_warehouse.engine.connect() as conn:
        keys = conn.execute(
            sa.text(f"SELECT employee_id FROM {table} WHERE flow_run_id = :r"), {"r": run_id}
        ).scalars()
        assert list(keys) == [victim]
    records = asyncio.run(_prefect_records(since))
    assert any("source_issues" in text for text in records)  # the scan did see the failure
    assert [text for text in records if str(victim) in text] == []


def test_scoring_without_champion_is_a_clear_error(demo_warehouse):
    with pytest.raises(NoChampionError, match="no champion model in model_registry"):
        score_population(score_date=DAY)
    assert score_rows(demo_warehouse, DAY) == (0, 0)


async def _artifacts(key: str):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    # Newest first: the session server holds this key from earlier tests too, and the API's
    # default order (ID_DESC over random UUIDs) made [0] an arbitrary one of them.
    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
        )


def test_artifacts_hold_aggregates_only(demo_warehouse):
    import asyncio

    report = nightly_pipeline(score_date=DAY)
    summary = asyncio.run(_artifacts("scoring-summary"))[0]
    assert f"| employees scored | {report.scoring.rows:,} |" in summary.data
    assert "Risk score distribution" in summary.data
    comparison = asyncio.run(_artifacts("model-comparison"))[0]
    assert "validation AUC" in str(comparison.data)
    card = asyncio.run(_artifacts("model-card"))[0]
    assert f"| AUC | {report.training.auc:.4f} |" in card.data
    ids = [str(e) for e in list(risk_by_employee(demo_warehouse, DAY))[:200]]
    texts = (summary.data, str(comparison.data), card.data)
    assert not any(i in text for i in ids for text in texts)


def test_data_tasks_do_not_persist_results():
    from tasks.prefect_tasks.features import extract_training_frame_task
    from tasks.prefect_tasks.model_store import load_model_task, save_model_task
    from tasks.prefect_tasks.scoring import score_population_task
    from tasks.prefect_tasks.training import evaluate_champion_task, fit_model_task

    for task in (
        extract_training_frame_task,
        fit_model_task,
        evaluate_champion_task,
        save_model_task,
        load_model_task,
        score_population_task,
    ):
        assert task.persist_result is False, task.name
