"""backfill: run the nightly pipeline for each score date in a range."""

from datetime import date

from prefect import flow

from flows.nightly import nightly_pipeline
from tasks.backfill import (
    BackfillProgress,
    BackfillReport,
    Reprocess,
    fan_out_to_deployment,
    finish_backfill_task,
    plan_backfill_task,
    run_in_process,
    running_in_deployment,
)
from tasks.run_names import backfill_run_name


@flow(name="backfill", flow_run_name=backfill_run_name, log_prints=True)
def backfill(
    start: date,
    end: date,
    reprocess: Reprocess = "missing",
    max_parallel: int = 1,
    dry_run: bool = False,
    nightly_deployment: str = "nightly-pipeline/nightly",
) -> BackfillReport:
    """Score every date from `start` to `end` (inclusive). `reprocess="missing"` skips dates
    that already have scores. Run from a deployment (e.g. `backfill/adhoc` on ECS), each date
    is one run of `nightly_deployment` (its own ECS task), at most `max_parallel` at a time;
    run directly (`pulsewatch backfill`), the dates run one after another in this process.
    A failed date does not stop the others; the run fails at the end if any date failed."""
    plan = plan_backfill_task(start, end, reprocess)
    report = BackfillReport(planned=plan.dates, skipped=plan.skipped, dry_run=dry_run)
    if not dry_run and plan.dates:
        progress = BackfillProgress(len(plan.dates))
        if running_in_deployment():
            outcomes = fan_out_to_deployment(plan.dates, nightly_deployment, max_parallel, progress)
        else:
            outcomes = run_in_process(plan.dates, nightly_pipeline, progress)
        report.record(outcomes)
    return finish_backfill_task(report)
