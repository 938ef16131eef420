"""run_bounded: the fan-out loop of a deployed backfill, with a fake clock and fake runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tasks.backfill import BackfillReport, DateOutcome, run_bounded, state_outcome
from tasks.errors import PulsewatchError

pytestmark = pytest.mark.unit
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(7)]


class FakeRuns:
    """Each date's run takes `durations[day]` polls; records how many ran at once."""

    def __init__(self, durations: dict[date, int], failing: set[date] = frozenset()):
        self.durations, self.failing = durations, failing
        self.started: list[date] = []
        self.polls: dict[date, int] = {}
        self.running: set[date] = set()
        self.most_at_once = 0

    def start(self, day: date) -> str:
        self.started.append(day)
        self.running.add(day)
        self.most_at_once = max(self.most_at_once, len(self.running))
        self.polls[day] = 0
        return f"run-{day}"

    def poll(self, day: date, handle: str) -> DateOutcome | None:
        assert handle == f"run-{day}"
        self.polls[day] += 1
        if self.polls[day] < self.durations[day]:
            return None
        self.running.discard(day)
        if day in self.failing:
            return DateOutcome(day, False, "boom")
        return DateOutcome(day, True)


@pytest.mark.parametrize("max_parallel", [1, 3, 10])
def test_never_more_than_max_parallel_and_every_date_once(max_parallel):
    runs = FakeRuns({day: 1 + (i * 5) % 4 for i, day in enumerate(DAYS)}, failing={DAYS[2]})
    sleeps, finished = [], []
    outcomes = run_bounded(
        DAYS, runs.start, runs.poll, max_parallel, finished.append, 5.0, sleeps.append
    )
    assert runs.started == DAYS  # in date order, each once
    assert runs.most_at_once == min(max_parallel, len(DAYS))
    assert sorted(o.day for o in outcomes) == DAYS and finished == outcomes
    assert [o.day for o in outcomes if not o.ok] == [DAYS[2]]
    assert set(sleeps) == {5.0}
    report = BackfillReport(planned=DAYS, skipped=[])
    report.record(outcomes)
    assert report.done == [d for d in DAYS if d != DAYS[2]] and report.failed == {DAYS[2]: "boom"}


def test_a_slot_is_refilled_as_soon_as_a_run_finishes():
    # day 0 is long; with 2 slots the others go through the second slot one by one
    runs = FakeRuns({DAYS[0]: 10, DAYS[1]: 1, DAYS[2]: 1, DAYS[3]: 1})
    outcomes = run_bounded(DAYS[:4], runs.start, runs.poll, 2, sleep=lambda s: None)
    assert [o.day for o in outcomes] == [DAYS[1], DAYS[2], DAYS[3], DAYS[0]]
    assert runs.most_at_once == 2


def test_nothing_to_run_and_bad_limit():
    assert run_bounded([], lambda d: 1, lambda d, h: None, 2) == []
    with pytest.raises(PulsewatchError, match="max_parallel: must be at least 1"):
        run_bounded(DAYS, lambda d: 1, lambda d, h: None, 0)


@pytest.mark.prefect
def test_state_outcome_keeps_the_first_line_only():
    # imported here: Prefect costs about a second and the other tests of the file do without it
    from prefect.states import Completed, Crashed, Failed

    day = DAYS[0]
    assert state_outcome(day, Completed(), "id-1") == DateOutcome(day, True, "", "id-1")
    failed = state_outcome(day, Failed(message="source table employees is missing\nTraceback ..."))
    assert failed == DateOutcome(day, False, "source table employees is missing")
    crashed = state_outcome(day, Crashed(message="x" * 500))
    assert not crashed.ok and crashed.message == "x" * 300
