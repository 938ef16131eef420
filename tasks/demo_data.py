"""Synthetic pulse-survey data with a learnable signal, written through the bulk path.

The story each employee lives through, month by month:
- a personal baseline condition (department matters a little) and a personal habit of skipping
  surveys;
- now and then a *decline episode* starts (more often in some departments and in the first
  months after hiring): for 2-4 months the condition slides, answers get noisier and skipped
  surveys more frequent;
- most episodes end in a *drop* (the condition falls by 2-3.5 points at once), after which
  some employees leave; otherwise the condition drifts back toward the baseline.
So falling trends, rising volatility and skipped answers precede a drop, which is what the
model has to learn. Generation is vectorised and chunked by employees (fixed chunk size and a
per-chunk seed), so output is deterministic for a seed and memory stays bounded at any size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from tasks.warehouse import SOURCE_TABLES, Warehouse

CHUNK_EMPLOYEES = 20_000
FIRST_EMPLOYEE_ID = 100_001
# name, share of headcount, baseline offset, episode hazard multiplier
DEPARTMENTS = (
    ("Engineering", 0.26, 0.2, 0.9),
    ("Sales", 0.18, -0.3, 1.4),
    ("Customer Support", 0.15, -0.4, 1.6),
    ("Operations", 0.12, 0.0, 1.1),
    ("Marketing", 0.09, 0.1, 1.0),
    ("Product", 0.08, 0.2, 0.9),
    ("Finance", 0.07, 0.0, 0.8),
    ("People", 0.05, 0.1, 0.9),
)
DIMENSION_OFFSETS = np.array([0.0, 0.4, -0.3])  # work, relationships, health


@dataclass(frozen=True)
class DemoSpec:
    employees: int = 2_000
    months: int = 24
    seed: int = 7
    end_month: date | None = None  # default: the last complete month before today

    def resolved_end_month(self) -> np.datetime64:
        end = self.end_month or _previous_month(date.today())
        return np.datetime64(end.replace(day=1), "M")


@dataclass(frozen=True)
class DemoSummary:
    employees: int
    survey_rows: int
    first_month: date
    last_month: date
    leavers: int


def _previous_month(day: date) -> date:
    first = day.replace(day=1)
    return (pd.Timestamp(first) - pd.DateOffset(months=1)).date()


def _month_start_days(months: np.ndarray) -> np.ndarray:
    return months.astype("datetime64[D]")


def generate_chunk(spec: DemoSpec, chunk_index: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Employees and survey rows for one chunk of `n` employees (pure; deterministic)."""
    rng = np.random.default_rng([spec.seed, chunk_index])
    months_count = spec.months
    end = spec.resolved_end_month()
    months = end - np.arange(months_count - 1, -1, -1)  # datetime64[M], oldest first
    month_days = _month_start_days(months)

    shares = np.array([d[1] for d in DEPARTMENTS])
    dept = rng.choice(len(DEPARTMENTS), size=n, p=shares / shares.sum())
    dept_offset = np.array([d[2] for d in DEPARTMENTS])[dept]
    dept_hazard = np.array([d[3] for d in DEPARTMENTS])[dept]

    baseline = np.clip(rng.normal(7.2 + dept_offset, 0.9), 3.0, 9.5)
    skip_habit = rng.beta(0.5, 25.0, size=n)

    # Hiring: most employees were there before the window, some join during it.
    joins_later = rng.random(n) < 0.15
    hire_index = np.where(joins_later, rng.integers(1, months_count, size=n), 0)
    months_before = rng.integers(1, 121, size=n)
    hire_month = np.where(joins_later, months[hire_index] - 1, months[0] - months_before)
    hired_on = _month_start_days(hire_month.astype("datetime64[M]")) + rng.integers(0, 28, size=n)

    level = baseline + rng.normal(0, 0.4, size=n)
    episode_left = np.zeros(n, dtype=np.int64)
    episode_age = np.zeros(n, dtype=np.int64)
    decline_rate = np.zeros(n)
    drop_next = np.zeros(n, dtype=bool)
    left_index = np.full(n, -1, dtype=np.int64)

    scores = np.full((n, months_count, 3), -1, dtype=np.int16)
    answered = np.zeros((n, months_count), dtype=bool)
    present = np.zeros((n, months_count), dtype=bool)

    for t in range(months_count):
        active = (hire_index <= t) & (left_index < 0)
        present[:, t] = active
        tenure = (months[t] - hire_month).astype(np.int64)

        dropping = active & drop_next
        level[dropping] -= rng.uniform(2.0, 3.5, size=dropping.sum())
        drop_next[:] = False

        in_episode = active & (episode_left > 0)
        hazard = (
            0.035
            * dept_hazard
            * np.where(tenure < 6, 1.5, 1.0)
            * np.where(baseline < 6.5, 1.4, 1.0)
        )
        starts = active & ~in_episode & ~dropping & (rng.random(n) < hazard)
        episode_left[starts] = rng.integers(2, 5, size=starts.sum())
        episode_age[starts] = 0
        decline_rate[starts] = rng.uniform(0.5, 1.0, size=starts.sum())
        in_episode |= starts

        level[in_episode] -= decline_rate[in_episode]
        episode_age[in_episode] += 1
        episode_left[in_episode] -= 1
        ending = in_episode & (episode_left == 0)
        drop_next |= ending & (rng.random(n) < 0.85)

        calm = active & ~in_episode & ~dropping
        level[calm] += 0.25 * (baseline[calm] - level[calm]) + rng.normal(0, 0.15, size=calm.sum())

        noise = 0.5 + 0.45 * np.where(in_episode, episode_age, 0) + np.where(dropping, 0.6, 0.0)
        p_skip = np.clip(
            skip_habit + 0.12 * np.where(in_episode, episode_age, 0) + np.where(dropping, 0.3, 0.0),
            0.0,
            0.95,
        )
        answers = active & (rng.random(n) >= p_skip)
        answered[:, t] = answers
        raw = (
            level[:, None]
            + DIMENSION_OFFSETS[None, :]
            + rng.normal(0, 1, size=(n, 3)) * noise[:, None]
        )
        scores[:, t, :] = np.clip(np.rint(raw), 0, 10).astype(np.int16)

        leave_p = 0.004 + 0.05 * (level < 4.0) + np.where(dropping, 0.12, 0.0)
        leaving = active & (rng.random(n) < leave_p)
        left_index[leaving] = t

    left_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    leavers = left_index >= 0
    left_on[leavers] = month_days[left_index[leavers]] + rng.integers(1, 28, size=leavers.sum())

    employee_ids = FIRST_EMPLOYEE_ID + chunk_index * CHUNK_EMPLOYEES + np.arange(n)
    employees = pd.DataFrame(
        {
            "employee_id": employee_ids.astype(np.int64),
            "department": np.array([d[0] for d in DEPARTMENTS], dtype=object)[dept],
            "hired_on": hired_on.astype("datetime64[s]"),
            "left_on": left_on.astype("datetime64[s]"),
        }
    )

    emp_idx, month_idx = np.nonzero(present)
    row_answered = answered[emp_idx, month_idx]
    row_scores = scores[emp_idx, month_idx, :]
    question_skip = rng.random(row_scores.shape) < 0.03
    question_skip[question_skip.all(axis=1), 0] = False  # an answered survey has some score
    offsets = rng.integers(0, 14 * 24 * 3600, size=len(emp_idx)).astype("timedelta64[s]")
    answered_at = month_days[month_idx].astype("datetime64[s]") + offsets
    answered_at[~row_answered] = np.datetime64("NaT")

    responses = pd.DataFrame(
        {
            "employee_id": employee_ids[emp_idx].astype(np.int64),
            "survey_month": month_days[month_idx].astype("datetime64[s]"),
            "work_score": _nullable(row_scores[:, 0], ~row_answered | question_skip[:, 0]),
            "relationship_score": _nullable(row_scores[:, 1], ~row_answered | question_skip[:, 1]),
            "health_score": _nullable(row_scores[:, 2], ~row_answered | question_skip[:, 2]),
            "answered_at": answered_at,
        }
    )
    return employees, responses


def _nullable(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(values.astype(np.int16), missing)


def generate(spec: DemoSpec) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """All chunks, in order."""
    for chunk_index, start in enumerate(range(0, spec.employees, CHUNK_EMPLOYEES)):
        yield generate_chunk(spec, chunk_index, min(CHUNK_EMPLOYEES, spec.employees - start))


def write_demo_data(warehouse: Warehouse, spec: DemoSpec) -> DemoSummary:
    """Replace the source tables' contents with demo data, in one transaction."""
    if spec.employees < 1 or spec.months < 2:
        raise ValueError("demo data needs at least 1 employee and 2 months")
    employees = rows = leavers = 0
    with warehouse.transaction() as tx:
        tx.ensure_schema()
        tx.execute_script("create_source_tables")
        tx.execute_script("clear_source_tables")
        for staff, responses in generate(spec):
            employees += tx.bulk_insert("employees", staff)
            rows += tx.bulk_insert("survey_responses", responses)
            leavers += int(staff["left_on"].notna().sum())
    for table in SOURCE_TABLES:  # as a warehouse's loader would: fresh statistics for planning
        warehouse.analyze(table)  # a refusal (not the owner) only leaves statistics stale
    end = spec.resolved_end_month()
    first = end - (spec.months - 1)
    return DemoSummary(
        employees=employees,
        survey_rows=rows,
        first_month=first.astype("datetime64[D]").astype(date),
        last_month=end.astype("datetime64[D]").astype(date),
        leavers=leavers,
    )
