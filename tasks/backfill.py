"""Backfill planning and reporting: which score dates to (re)process, and how it went."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from tasks.dates import date_range
from tasks.errors import PulsewatchError
from tasks.results import scored_dates
from tasks.retries import IO_RETRIES
from tasks.warehouse import open_warehouse

Reprocess = Literal["missing", "all"]


@dataclass(frozen=True)
class BackfillPlan:
    dates: list[date]
    skipped: list[date]


@dataclass
class BackfillReport:
    planned: list[date]
    skipped: list[date]
    done: list[date] = field(default_factory=list)
    failed: dict[date, str] = field(default_factory=dict)
    dry_run: bool = False


def plan_dates(
    start: date, end: date, reprocess: Reprocess, already_scored: set[date]
) -> BackfillPlan:
    if reprocess not in ("missing", "all"):
        raise PulsewatchError(f"reprocess: {reprocess!r} is not one of: missing, all")
    every = date_range(start, end)
    if reprocess == "all":
        return BackfillPlan(every, [])
    return BackfillPlan(
        [d for d in every if d not in already_scored], [d for d in every if d in already_scored]
    )


def backfill_markdown(report: BackfillReport) -> str:
    lines = [
        f"# Backfill {'(dry run) ' if report.dry_run else ''}"
        f"{report.planned[0] if report.planned else ''}",
        "",
        "| | |",
        "|---|---|",
        f"| dates planned | {len(report.planned)} |",
        f"| skipped (already scored) | {len(report.skipped)} |",
        f"| done | {len(report.done)} |",
        f"| failed | {len(report.failed)} |",
    ]
    if report.failed:
        lines += ["", "## Failed dates", "", "| date | error |", "|---|---|"]
        lines += [f"| {day} | {error} |" for day, error in sorted(report.failed.items())]
    return "\n".join(lines) + "\n"


@task(name="plan-backfill", cache_policy=NONE, **IO_RETRIES)
def plan_backfill_task(start: date, end: date, reprocess: Reprocess) -> BackfillPlan:
    existing: set[date] = set()
    if reprocess == "missing":
        from tasks.registry import ensure_result_tables

        with open_warehouse() as warehouse:
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
    create_markdown_artifact(key="backfill-summary", markdown=backfill_markdown(report))
    if report.failed:
        first_day, first_error = sorted(report.failed.items())[0]
        raise PulsewatchError(
            f"backfill: {len(report.failed)} of {len(report.planned)} dates failed "
            f"(first: {first_day}: {first_error})"
        )
    return report
