"""backfill: run the nightly pipeline for each score date in a range."""

from datetime import date

from prefect import flow

from flows.nightly import nightly_pipeline
from tasks.backfill import (
    BackfillReport,
    NightlyDeployment,
    Reprocess,
    check_max_parallel,
    run_in_process,
)
from tasks.prefect_tasks.backfill import (
    BackfillProgress,
    fan_out_to_deployment,
    finish_backfill_task,
    plan_backfill_task,
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
    nightly_deployment: NightlyDeployment = "nightly-pipeline/nightly",
) -> BackfillReport:
    """Score every date of a range with the nightly pipeline. Run from a deployment (e.g.
    `backfill/adhoc` on ECS), each date is one run of `nightly_deployment` (its own ECS task),
    at most `max_parallel` at a time; run directly (`pulsewatch backfill`), the dates run one
    after another in this process. A failed date does not stop the others; the run fails at
    the end if any date failed.

    Args:
        start: The first score date (YYYY-MM-DD).
        end: The last score date (YYYY-MM-DD), inclusive.
        reprocess: missing: skip dates that already have scores; all: score them again.
        max_parallel: Dates running at once, each its own run of the nightly deployment. Only
            from a deployment: a backfill run directly runs one date at a time.
        dry_run: Only plan: report which dates would run, start nothing.
        nightly_deployment: The deployment that runs each date (from a deployment only).
    """
    check_max_parallel(max_parallel, running_in_deployment())
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
