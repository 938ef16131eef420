"""The backfill's Prefect side, over the plain functions in tasks/backfill.py: the plan and
finish tasks, the progress artifact, and the fan-out to one nightly deployment run per date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import cast
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NONE

from tasks.backfill import (
    POLL_SECONDS,
    BackfillPlan,
    BackfillReport,
    DateOutcome,
    Reprocess,
    backfill_markdown,
    backfill_range,
    date_spans,
    plan_dates,
    run_bounded,
    state_outcome,
)
from tasks.errors import PulsewatchError
from tasks.results import scored_dates
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.warehouse import open_warehouse


@task(name="plan-backfill", cache_policy=NONE, **IO_RETRIES)
def plan_backfill_task(start: date, end: date, reprocess: Reprocess) -> BackfillPlan:
    existing: set[date] = set()
    if reprocess == "missing":
        from tasks.registry import ensure_result_tables

        with open_warehouse(get_settings()) as warehouse:
            ensure_result_tables(warehouse)
            existing = scored_dates(warehouse, start, end)
    plan = plan_dates(start, end, reprocess, existing)
    get_run_logger().info(
        "Backfill %s..%s: %d dates to run, %d already scored",
        start,
        end,
        len(plan.dates),
        len(plan.skipped),
    )
    return plan


@task(name="finish-backfill", cache_policy=NONE)
def finish_backfill_task(report: BackfillReport) -> BackfillReport:
    """Publish the summary; fail the backfill run if any date failed."""
    create_markdown_artifact(
        key="backfill-summary",
        markdown=backfill_markdown(report),
        description=f"Backfill {backfill_range(report)}: {len(report.done):,} done, "
        f"{len(report.failed):,} failed, {len(report.skipped):,} skipped",
    )
    if report.failed:
        first_day, first_error = sorted(report.failed.items())[0]
        # The failed dates come first: this line is the backfill's one Slack alert (its
        # child runs do not alert, deployments/automations.py).
        raise PulsewatchError(
            f"backfill: {len(report.failed)} of {len(report.planned)} dates failed: "
            f"{date_spans(report.failed)} (first error: {first_day}: {first_error})"
        )
    return report


def running_in_deployment() -> bool:
    """True inside a run created from a deployment (ECS task, worker process)."""
    from prefect.runtime import deployment

    return deployment.id is not None


def fan_out_to_deployment(
    dates: Sequence[date],
    deployment_name: str,
    max_parallel: int,
    progress: BackfillProgress,
    poll_seconds: float = POLL_SECONDS,
) -> list[DateOutcome]:
    """One run of `deployment_name` per date (each its own ECS task on the ECS pools), linked
    as subflows of this run, at most `max_parallel` at once. The first date runs alone, so
    that when there is no fresh champion exactly one run trains it before the rest score.
    Children get an idempotency key from this run and the date: a retried backfill run
    finds its earlier children instead of starting duplicates."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.runtime import flow_run

    parent = flow_run.id or "local"
    logger = get_run_logger()
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(deployment_name)
        except ObjectNotFound:
            raise PulsewatchError(
                f"backfill: deployment {deployment_name!r} does not exist; "
                "deploy it first (prefect deploy --all)"
            ) from None

        def start(day: date) -> UUID:
            child = cast(
                FlowRun,
                run_deployment(
                    deployment_name,
                    parameters={"score_date": day.isoformat()},
                    timeout=0,
                    flow_run_name=f"backfill-{day.isoformat()}",  # as nightly_run_name names it
                    tags=["backfill"],
                    idempotency_key=f"backfill-{parent}-{day.isoformat()}",
                ),
            )
            logger.info("%s: started %s run %s", day, deployment_name, child.id)
            return child.id

        def poll(day: date, child_id: UUID) -> DateOutcome | None:
            state = client.read_flow_run(child_id).state
            if state is None or not state.is_final():
                return None
            return state_outcome(day, state, str(child_id))

        first = run_bounded(dates[:1], start, poll, 1, progress.finished, poll_seconds)
        rest = run_bounded(dates[1:], start, poll, max_parallel, progress.finished, poll_seconds)
    return first + rest


class BackfillProgress:
    """A progress artifact in the run's Artifacts tab, advanced as each date finishes."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        # called from sync code, so Prefect's async_dispatch returns the value, not a coroutine
        self.artifact_id = cast(
            UUID,
            create_progress_artifact(
                progress=0.0, key="backfill-progress", description=self._describe()
            ),
        )

    def _describe(self) -> str:
        return f"{self.done} done, {self.failed} failed of {self.total} score dates"

    @property
    def percent(self) -> float:
        return 100.0 * (self.done + self.failed) / self.total if self.total else 100.0

    def finished(self, outcome: DateOutcome) -> None:
        if outcome.ok:
            self.done += 1
        else:
            self.failed += 1
        if self.artifact_id is not None:
            update_progress_artifact(self.artifact_id, self.percent, description=self._describe())
        logger = get_run_logger()
        if outcome.ok:
            logger.info("%s done (%s)", outcome.day, self._describe())
        else:
            logger.warning("%s failed: %s (%s)", outcome.day, outcome.message, self._describe())
