"""The nightly report as a Prefect task (the run's result artifact, the keyed history artifacts
and its INFO line), over the plain functions in tasks/run_report.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from tasks.reporting import ScoringReport, TrainingReport
from tasks.run_report import (
    HISTORY_NIGHTS,
    STATUS_DATES,
    NightResult,
    NightRun,
    history_rows,
    model_rows,
    night_log_line,
    night_markdown,
    read_history,
    read_model_reasons,
    read_night_runs,
    run_duration,
    run_url,
    status_grid_markdown,
)
from tasks.settings import get_settings
from tasks.warehouse import open_warehouse


@task(name="publish-nightly-report", cache_policy=NONE)
def publish_nightly_report_task(
    training: TrainingReport | None, scoring: ScoringReport
) -> NightResult:
    """The nightly run's own result artifact and INFO line, plus the keyed history artifacts
    (nightly-history, model-history, score-date-status) the Artifacts page shows."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    day = scoring.score_date
    with open_warehouse(get_settings()) as warehouse:
        history = read_history(warehouse, day)
    now = datetime.now(UTC)
    this_run_id = flow_run.id
    dates = [day - timedelta(days=i) for i in range(STATUS_DATES)]
    with get_client(sync_client=True) as client:
        runs = read_night_runs(client, dates, now)
        reasons = read_model_reasons(
            client, [m.flow_run_id for m in history.models if m.flow_run_id]
        )
        this_run = client.read_flow_run(this_run_id) if this_run_id else None
    duration = run_duration(this_run, now) if this_run else None
    url = run_url(this_run_id) if this_run_id else None
    if this_run is not None:
        # This run reaches the end of its work here; it is Completed as soon as it returns.
        runs[day] = NightRun("Completed", duration, url)
    champion = next((m for m in history.models if m.model_version == scoring.model_version), None)
    result = NightResult(
        scoring=scoring,
        training=training,
        champion_cutoff=champion.train_end_date if champion else None,
        previous=history.previous,
        duration=duration,
        url=url,
    )
    create_markdown_artifact(
        key="nightly-result",
        markdown=night_markdown(result),
        description=f"Nightly result for {day}: {scoring.rows:,} employees scored with "
        f"{scoring.model_version}",
    )
    nights = history_rows(day, history, runs)
    create_table_artifact(
        key="nightly-history",
        table=nights,
        description=f"Last {HISTORY_NIGHTS} score dates up to {day} ({len(nights)} with a run "
        "or scores)",
    )
    create_table_artifact(
        key="model-history",
        table=model_rows(history.models, reasons),
        description=f"Model registry as of {day}: {len(history.models)} "
        f"version{'' if len(history.models) == 1 else 's'}, newest first",
    )
    grid = status_grid_markdown(day, history, runs)
    create_markdown_artifact(
        key="score-date-status",
        markdown=grid,
        description=f"Score dates {day - timedelta(days=STATUS_DATES - 1)} to {day}",
    )
    get_run_logger().info(night_log_line(result))
    return result
