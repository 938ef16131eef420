"""Flow run names that carry the date a run is about (`nightly-2026-11-20`, …), so the runs
list, a schedule's history and every alert say which date without opening the run.

Prefect calls a flow's `flow_run_name` callable with no arguments; the run's parameters are
read from `prefect.runtime.flow_run.parameters`. A run created from a deployment is named
before its parameters are validated, so a date may still be its ISO string there; a missing
date is resolved exactly as the flow resolves it (today in Asia/Tokyo) before naming.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tasks.dates import resolve_date


def _day(value: Any) -> str:
    """ISO date of a date parameter (None means today, as the flows resolve it); an
    unparseable value is kept as it is, so the run's own validation error names it."""
    if value is None or isinstance(value, date):
        return resolve_date(value).isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return str(value)


def _parameters() -> dict[str, Any]:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters or {})


def nightly_run_name() -> str:
    """`nightly-DATE`; a date that a deployed backfill fanned out (a deployment run tagged
    `backfill`) is `backfill-DATE`, the name the alert automations leave to the backfill's own
    single message (deployments/automations.py NOT_A_BACKFILL_CHILD)."""
    from prefect.runtime import deployment, flow_run

    day = _day(_parameters().get("score_date"))
    if deployment.id and "backfill" in (flow_run.tags or []):
        return f"backfill-{day}"
    return f"nightly-{day}"


def train_run_name() -> str:
    return f"train-{_day(_parameters().get('train_end_date'))}"


def score_run_name() -> str:
    return f"score-{_day(_parameters().get('score_date'))}"


def backfill_run_name() -> str:
    parameters = _parameters()
    return f"backfill-{_day(parameters.get('start'))}..{_day(parameters.get('end'))}"
