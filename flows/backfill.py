"""backfill: run the nightly pipeline for each score date in a range."""

from __future__ import annotations

from datetime import date

from prefect import flow

from flows.nightly import nightly_pipeline
from tasks.backfill import BackfillReport, Reprocess, finish_backfill_task, plan_backfill_task


@flow(name="backfill", log_prints=True)
def backfill(
    start: date,
    end: date,
    reprocess: Reprocess = "missing",
    max_parallel: int = 1,
    dry_run: bool = False,
) -> BackfillReport:
    """Score every date from `start` to `end` (inclusive). `reprocess="missing"` skips dates
    that already have scores. Dates run one after another in this process for now
    (`max_parallel` is reserved for the ECS fan-out); a failed date does not stop the others,
    and the run fails at the end if any date failed."""
    plan = plan_backfill_task(start, end, reprocess)
    report = BackfillReport(planned=plan.dates, skipped=plan.skipped, dry_run=dry_run)
    if not dry_run:
        for day in plan.dates:
            state = nightly_pipeline(score_date=day, return_state=True)
            if state.is_completed():
                report.done.append(day)
            else:
                report.failed[day] = (state.message or state.name or "failed").splitlines()[0][:300]
    return finish_backfill_task(report)
