"""Flow runs are named with their date, as read back from the Prefect API."""

from datetime import date

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)

from flows.backfill import backfill
from flows.nightly import nightly_pipeline
from flows.score import score_population
from tasks.dates import business_today
from tasks.run_names import _day

pytestmark = pytest.mark.flow
DAY = date(2026, 11, 20)


def _run_name(state) -> str:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id).name


def _descendants(state) -> list[str]:
    """Names of every subflow run below a run (children, grandchildren, …), sorted."""
    names, parents = [], [state.state_details.flow_run_id]
    with get_client(sync_client=True) as client:
        while parents:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=parents)
                )
            )
            names += [run.name for run in runs]
            parents = [run.id for run in runs]
    return sorted(names)


def test_nightly_and_its_subflows_are_named_with_the_score_date(demo_warehouse):
    state = nightly_pipeline(score_date=DAY, return_state=True)
    assert state.is_completed(), state.message
    assert _run_name(state) == "nightly-2026-11-20"
    assert _descendants(state) == ["score-2026-11-20", "train-2026-11-20"]


def test_backfill_is_named_with_its_range_and_each_child_with_its_date(demo_warehouse):
    state = backfill(start=date(2026, 11, 1), end=date(2026, 11, 2), return_state=True)
    assert state.is_completed(), state.message
    assert _run_name(state) == "backfill-2026-11-01..2026-11-02"
    assert [n for n in _descendants(state) if n.startswith("nightly-")] == [
        "nightly-2026-11-01",
        "nightly-2026-11-02",
    ]


def test_a_run_without_a_date_is_named_with_today_in_tokyo(duck):
    # Fails at once (no source tables), but it was named before it started.
    state = score_population(return_state=True)
    assert state.is_failed()
    assert _run_name(state) == f"score-{business_today().isoformat()}"


def test_deployment_parameters_arrive_as_strings_and_name_the_same():
    # A deployment run is named before its parameters are validated: "2026-11-20" is a str.
    assert _day("2026-11-20") == _day(DAY) == "2026-11-20"
    assert _day("not-a-date") == "not-a-date"  # left for the flow's own validation error
