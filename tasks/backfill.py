"""Backfill planning, execution and reporting: which score dates to (re)process, how they run
(in this process, or one nightly deployment run per date with at most `max_parallel` at once),
and how it went. Plain functions: the Prefect side (the plan/finish tasks, the progress artifact,
the fan-out to a deployment) is tasks/prefect_tasks/backfill.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol, TypeVar

from tasks.dates import date_range
from tasks.errors import PulsewatchError

Reprocess = Literal["missing", "all"]
# The deployments a backfill may fan out to (prefect.yaml): a Literal, so a mistyped name is
# refused when the parameters are validated, before the run starts (and the form offers a list).
NightlyDeployment = Literal["nightly-pipeline/nightly"]


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

    def record(self, outcomes: Sequence[DateOutcome]) -> None:
        for outcome in sorted(outcomes, key=lambda o: o.day):
            if outcome.ok:
                self.done.append(outcome.day)
            else:
                self.failed[outcome.day] = outcome.message


@dataclass(frozen=True)
class DateOutcome:
    """How one score date ended: ok, or the first line of the error (no row data)."""

    day: date
    ok: bool
    message: str = ""
    flow_run_id: str | None = None


Handle = TypeVar("Handle")
POLL_SECONDS = 5.0  # how often a fan-out looks at its child runs (as run_deployment does)


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


def date_spans(days: Iterable[date]) -> str:
    """'2026-10-01..2026-10-03, 2026-10-07': consecutive dates as one span."""
    spans: list[list[date]] = []
    for day in sorted(set(days)):
        if spans and (day - spans[-1][-1]).days == 1:
            spans[-1].append(day)
        else:
            spans.append([day])
    return ", ".join(f"{span[0]}..{span[-1]}" if len(span) > 1 else f"{span[0]}" for span in spans)


def backfill_range(report: BackfillReport) -> str:
    days = sorted([*report.planned, *report.skipped])
    return f"{days[0]} to {days[-1]}" if days else "(no dates)"


def backfill_markdown(report: BackfillReport) -> str:
    lines = [
        f"# Backfill {'(dry run) ' if report.dry_run else ''}{backfill_range(report)}",
        "",
        "| dates | count |",
        "|---|---|",
        f"| planned | {len(report.planned):,} |",
        f"| skipped (already scored) | {len(report.skipped):,} |",
        f"| done | {len(report.done):,} |",
        f"| failed | {len(report.failed):,} |",
    ]
    if report.failed:
        lines += ["", "## Failed dates", "", "| date | error |", "|---|---|"]
        lines += [f"| {day} | {error} |" for day, error in sorted(report.failed.items())]
    return "\n".join(lines) + "\n"


def run_bounded(
    dates: Sequence[date],
    start: Callable[[date], Handle],
    poll: Callable[[date, Handle], DateOutcome | None],
    max_parallel: int,
    on_finish: Callable[[DateOutcome], None] = lambda outcome: None,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DateOutcome]:
    """Start one run per date, in date order, never more than `max_parallel` unfinished at
    once; `poll` returns None while a run is still going. Single-threaded: starting and
    polling happen here, the work happens elsewhere (ECS tasks, worker processes)."""
    if max_parallel < 1:
        raise PulsewatchError(f"max_parallel: must be at least 1 (got {max_parallel})")
    waiting = list(dates)
    running: dict[date, Handle] = {}
    finished: list[DateOutcome] = []
    while waiting or running:
        while waiting and len(running) < max_parallel:
            day = waiting.pop(0)
            running[day] = start(day)
        for day, handle in list(running.items()):
            outcome = poll(day, handle)
            if outcome is not None:
                del running[day]
                finished.append(outcome)
                on_finish(outcome)
        if running and (not waiting or len(running) >= max_parallel):
            sleep(poll_seconds)
    return finished


def state_outcome(day: date, state: Any, flow_run_id: str | None = None) -> DateOutcome:
    """A finished Prefect state as a DateOutcome (first line of the message, at most 300
    characters)."""
    if state.is_completed():
        return DateOutcome(day, True, flow_run_id=flow_run_id)
    message = (state.message or state.name or "failed").strip().splitlines()
    return DateOutcome(day, False, (message[0] if message else state.name)[:300], flow_run_id)


NightlyFlow = Callable[..., Any]  # the nightly-pipeline flow, called with return_state=True


class Progress(Protocol):
    """Told of each finished date (tasks/prefect_tasks/backfill.py BackfillProgress)."""

    def finished(self, outcome: DateOutcome) -> None: ...


def run_in_process(
    dates: Sequence[date], nightly: NightlyFlow, progress: Progress
) -> list[DateOutcome]:
    """Local backfill: the nightly flow for each date, one after another, as subflows of this
    run; a failed date does not stop the others."""
    outcomes = []
    for day in dates:
        outcome = state_outcome(day, nightly(score_date=day, return_state=True))
        progress.finished(outcome)
        outcomes.append(outcome)
    return outcomes


def check_max_parallel(
    max_parallel: int, in_deployment: bool, option: str = "max_parallel"
) -> None:
    """Refuse parallel dates where they cannot run in parallel: outside a deployment the dates
    run as subflows of this process, one after another. Not run concurrently there on purpose:
    a DuckDB file takes one writer, and on PostgreSQL/Redshift one process's CPU and memory are
    sized for one night (LightGBM already uses its `num_threads`); dates at once are separate
    runs of the nightly deployment, each its own ECS task or worker process."""
    if max_parallel < 1:
        raise PulsewatchError(f"{option}: must be at least 1 (got {max_parallel})")
    if max_parallel > 1 and not in_deployment:
        raise PulsewatchError(
            f"{option}: {max_parallel} dates at once need the backfill/adhoc deployment "
            "(each date its own run); run here, dates go one at a time (use 1)"
        )
