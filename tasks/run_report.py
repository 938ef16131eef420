"""What the nightly run shows on its own page and on the Artifacts page: the night's result
beside the previous night's, the last 30 nights, the model history and a per-date status grid.
Aggregates only (counts, means, AUC): no employee id, no score of a person.

Where the history comes from:
- rows, mean risk, count at or above 0.5 and the scoring model of each date: the warehouse
  (`score_history.sql`, `score_distribution.sql`, `registry_history.sql`; aggregates computed
  there, only a few numbers per date leave it);
- the state and duration of each night, and why a candidate was rejected: the Prefect API
  (flow runs of nightly-pipeline named `nightly-<date>`, the `model-comparison` artifact of
  each model's train-model run). Prefect is chosen over a run-log table of our own because
  it alone knows about the nights that matter most: a run that crashed, was OOM-killed or
  never started cannot write its own log row, while Prefect records its final state anyway.
  Prefect keeps run history for its retention period (Cloud plans: 7-30 days and up); a night
  it no longer knows shows an en dash for state and duration while its warehouse numbers remain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from tasks.reporting import NONE_SHOWN, ScoringReport, TrainingReport
from tasks.settings import get_settings
from tasks.warehouse import Warehouse, friendly_errors

HISTORY_NIGHTS = 30
STATUS_DATES = 60
FAILED_STATES = {"Failed", "Crashed", "TimedOut", "Cancelled"}


@dataclass(frozen=True)
class DateAggregate:
    """One scored date, as the warehouse aggregates it."""

    score_date: date
    rows: int
    mean_risk: float
    high_risk: int
    model_version: str


@dataclass(frozen=True)
class Distribution:
    score_date: date
    histogram: list[int]  # ten deciles of risk, as tasks/scoring.py bins them
    mean_risk: float
    high_risk: int

    @property
    def rows(self) -> int:
        return sum(self.histogram)


@dataclass(frozen=True)
class NightRun:
    """The latest nightly-pipeline run of a score date, as Prefect knows it."""

    state: str
    duration: timedelta | None
    url: str | None = None


@dataclass(frozen=True)
class ModelRow:
    model_version: str
    trained_at: datetime
    train_end_date: date
    n_train: int
    auc: float | None
    status: str
    flow_run_id: str | None


@dataclass
class History:
    aggregates: dict[date, DateAggregate] = field(default_factory=dict)
    previous: Distribution | None = None
    models: list[ModelRow] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------------
def _day(value: Any) -> date:
    return pd.Timestamp(value).date()


def read_history(warehouse: Warehouse, day: date) -> History:
    """The warehouse's aggregates for the report of score date `day`."""
    start = day - timedelta(days=STATUS_DATES - 1)
    with friendly_errors("read the nightly history"):
        scored = warehouse.read("score_history", {"start_date": start, "end_date": day})
        deciles = warehouse.read("score_distribution", {"score_date": day})
        # newest first; sorted here, since a Redshift UNLOAD does not keep an ORDER BY
        models = warehouse.read("registry_history").sort_values("trained_at", ascending=False)
    history = History()
    for row in scored.itertuples(index=False):
        history.aggregates[_day(row.score_date)] = DateAggregate(
            _day(row.score_date),
            int(row.n_rows),
            float(row.mean_risk),
            int(row.high_risk),
            str(row.model_version),
        )
    if len(deciles):
        histogram = [0] * 10
        for row in deciles.itertuples(index=False):
            histogram[int(row.decile)] = int(row.n)
        history.previous = Distribution(
            _day(deciles["score_date"].iloc[0]),
            histogram,
            float(deciles["risk_sum"].sum()) / max(int(deciles["n"].sum()), 1),
            int(deciles["high_risk"].sum()),
        )
    history.models = [
        ModelRow(
            str(row.model_version),
            pd.Timestamp(row.trained_at).to_pydatetime(),
            _day(row.train_end_date),
            int(row.n_train),
            None if pd.isna(row.auc) else float(row.auc),
            str(row.status),
            None if pd.isna(row.flow_run_id) else str(row.flow_run_id),
        )
        for row in models.itertuples(index=False)
    ]
    return history


def run_url(flow_run_id: Any) -> str | None:
    """Link to a flow run in the Prefect UI (PULSEWATCH_PREFECT_UI_URL first, as the alerts)."""
    from prefect.settings import PREFECT_UI_URL

    base = get_settings().prefect_ui_url or PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}" if base else None


def run_duration(run: Any, now: datetime) -> timedelta | None:
    if run.start_time is None:
        return None
    return (run.end_time or now) - run.start_time


def read_night_runs(client: Any, dates: Iterable[date], now: datetime) -> dict[date, NightRun]:
    """The latest nightly-pipeline run of each date (by name; backfilled dates included)."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterName,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    names = {f"nightly-{d.isoformat()}": d for d in dates}
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=["nightly-pipeline"])),
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=list(names))),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=200,
    )
    found: dict[date, NightRun] = {}
    for run in runs:  # newest first: the first run of a name is its latest
        day = names[run.name]
        if day not in found:
            found[day] = NightRun(
                run.state_name or "unknown", run_duration(run, now), run_url(run.id)
            )
    return found


def read_model_reasons(client: Any, flow_run_ids: Sequence[str]) -> dict[str, str]:
    """Why each train-model run promoted or rejected its candidate, from the `reason` row of
    its model-comparison artifact (the promotion gate's own words), by flow run id."""
    from uuid import UUID

    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    if not flow_run_ids:
        return {}
    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["model-comparison"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(i) for i in flow_run_ids]),
        )
    )
    reasons = {}
    for artifact in artifacts:
        rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
        for row in rows or []:
            if row.get("metric") == "reason":
                reasons[str(artifact.flow_run_id)] = str(row.get("candidate", ""))
    return reasons


# -- formatting ------------------------------------------------------------------------------
def duration_text(value: timedelta | None) -> str:
    if value is None:
        return NONE_SHOWN
    seconds = round(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def _auc(value: float | None) -> str:
    return NONE_SHOWN if value is None else f"{value:.4f}"


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else NONE_SHOWN


@dataclass(frozen=True)
class NightResult:
    """Everything the nightly run's own artifact and log line say (aggregates only)."""

    scoring: ScoringReport
    training: TrainingReport | None
    champion_cutoff: date | None
    previous: Distribution | None
    duration: timedelta | None
    url: str | None

    @property
    def training_text(self) -> str:
        if self.training is None:
            cutoff = f" (cut-off {self.champion_cutoff})" if self.champion_cutoff else ""
            return f"no: champion {self.scoring.model_version}{cutoff} is fresh"
        return f"yes: candidate {self.training.model_version}, AUC {self.training.auc:.4f}"

    @property
    def decision_text(self) -> str:
        if self.training is None:
            return "no candidate tonight; the champion scored"
        if self.training.status == "champion":
            return f"promoted to champion: {self.training.reason}"
        return (
            f"rejected; champion {self.scoring.model_version} kept scoring: {self.training.reason}"
        )


def night_log_line(result: NightResult) -> str:
    scoring, stats = result.scoring, result.scoring.stats
    prev = result.previous
    previous = (
        f"; previous night {prev.score_date}: mean {prev.mean_risk:.3f}, "
        f"{prev.high_risk:,} at or above 0.5"
        if prev is not None
        else "; no previous night"
    )
    return (
        f"Nightly {scoring.score_date}: model {scoring.model_version} "
        f"(validation AUC {_auc(scoring.model_auc)}); trained: {result.training_text}; "
        f"decision: {result.decision_text}; scored {scoring.rows:,} employees, "
        f"mean risk {stats['mean']:.3f}, {stats['high_risk']:,} at or above 0.5{previous}; "
        f"duration {duration_text(result.duration)}"
    )


def night_markdown(result: NightResult) -> str:
    scoring, stats = result.scoring, result.scoring.stats
    prev = result.previous
    prev_head = f"previous night ({prev.score_date})" if prev else "previous night"
    prev_rows = prev.rows if prev else 0
    lines = [
        f"# Nightly result for {scoring.score_date}",
        "",
        "| item | value |",
        "|---|---|",
        f"| score date | {scoring.score_date} |",
        f"| model | `{scoring.model_version}` (validation AUC {_auc(scoring.model_auc)}) |",
        f"| trained tonight | {result.training_text} |",
        f"| promotion gate | {result.decision_text} |",
        f"| employees scored | {scoring.rows:,} |",
        f"| duration | {duration_text(result.duration)} |",
    ]
    if result.url:
        lines.append(f"| run | [{result.url}]({result.url}) |")
    lines += [
        "",
        "## Risk tonight and the night before",
        "",
        f"| risk | tonight ({scoring.score_date}) | share | {prev_head} | share |",
        "|---|---:|---:|---:|---:|",
        f"| employees | {scoring.rows:,} | | {f'{prev_rows:,}' if prev else NONE_SHOWN} | |",
        f"| mean risk | {stats['mean']:.3f} | | "
        f"{f'{prev.mean_risk:.3f}' if prev else NONE_SHOWN} | |",
        f"| at or above 0.5 | {stats['high_risk']:,} | {_share(stats['high_risk'], scoring.rows)} "
        f"| {f'{prev.high_risk:,}' if prev else NONE_SHOWN} "
        f"| {_share(prev.high_risk, prev_rows) if prev else NONE_SHOWN} |",
    ]
    for i, count in enumerate(stats["histogram"]):
        before = prev.histogram[i] if prev else None
        lines.append(
            f"| {i / 10:.1f} to {(i + 1) / 10:.1f} | {count:,} | {_share(count, scoring.rows)} | "
            f"{NONE_SHOWN if before is None else f'{before:,}'} | "
            f"{NONE_SHOWN if before is None else _share(before, prev_rows)} |"
        )
    if prev is None:
        lines += ["", "No earlier score date in condition_scores to compare with."]
    return "\n".join(lines) + "\n"


def history_rows(
    day: date,
    history: History,
    runs: Mapping[date, NightRun],
    nights: int = HISTORY_NIGHTS,
) -> list[dict[str, str]]:
    """The last `nights` score dates up to `day`, newest first: one row per date with any
    trace (scores in the warehouse or a nightly run in Prefect)."""
    aucs = {m.model_version: m.auc for m in history.models}
    rows = []
    for offset in range(nights):
        current = day - timedelta(days=offset)
        scored, run = history.aggregates.get(current), runs.get(current)
        if scored is None and run is None:
            continue
        rows.append(
            {
                "date": current.isoformat(),
                "model": scored.model_version if scored else NONE_SHOWN,
                "AUC": _auc(aucs.get(scored.model_version)) if scored else NONE_SHOWN,
                "rows": f"{scored.rows:,}" if scored else NONE_SHOWN,
                "mean risk": f"{scored.mean_risk:.3f}" if scored else NONE_SHOWN,
                ">= 0.5": f"{scored.high_risk:,}" if scored else NONE_SHOWN,
                "duration": duration_text(run.duration) if run else NONE_SHOWN,
                "state": run.state if run else NONE_SHOWN,
            }
        )
    return rows


def model_reason(model: ModelRow, models: Sequence[ModelRow], reasons: Mapping[str, str]) -> str:
    """The gate's recorded words when Prefect still has them; otherwise what the registry
    itself shows (who replaced a retired champion)."""
    recorded = reasons.get(model.flow_run_id or "")
    if model.status == "retired":
        newer = [m for m in models if m.trained_at > model.trained_at and m.status != "rejected"]
        replaced = min(newer, key=lambda m: m.trained_at).model_version if newer else None
        prefix = f"replaced by {replaced}" if replaced else "retired"
        return f"{prefix}; promoted then: {recorded}" if recorded else prefix
    if recorded:
        return recorded
    return {
        "champion": "current champion",
        "rejected": "rejected by the promotion gate (details no longer in Prefect)",
    }.get(model.status, model.status)


def model_rows(models: Sequence[ModelRow], reasons: Mapping[str, str]) -> list[dict[str, str]]:
    return [
        {
            "model": m.model_version,
            "status": m.status,
            "why": model_reason(m, models, reasons),
            "AUC": _auc(m.auc),
            "cut-off": m.train_end_date.isoformat(),
            "training rows": f"{m.n_train:,}",
            "trained at (UTC)": m.trained_at.strftime("%Y-%m-%d %H:%M"),
        }
        for m in models
    ]


# Plain text, not emoji: a browser without an emoji font (a server's headless chromium, some
# Linux desktops) shows emoji as empty boxes, and words need no colour to be read.
STATUS_MARKS = {"scored": "ok", "failed": "failed", "missing": NONE_SHOWN}


def date_status(day: date, history: History, runs: Mapping[date, NightRun]) -> str:
    if day in history.aggregates:
        return "scored"
    run = runs.get(day)
    return "failed" if run is not None and run.state in FAILED_STATES else "missing"


def status_grid_markdown(
    day: date, history: History, runs: Mapping[date, NightRun], dates: int = STATUS_DATES
) -> str:
    """The last `dates` score dates as a calendar (weeks down, Monday to Sunday across), each
    day marked scored / failed / missing, failed ones linked to their run."""
    first = day - timedelta(days=dates - 1)
    statuses = {
        first + timedelta(days=i): date_status(first + timedelta(days=i), history, runs)
        for i in range(dates)
    }
    counts = {name: list(statuses.values()).count(name) for name in STATUS_MARKS}
    lines = [
        f"# Score dates {first} to {day}",
        "",
        f"{counts['scored']} scored, {counts['failed']} failed, {counts['missing']} missing "
        f"(ok: scored; failed: the date's last run failed, linked to it; {NONE_SHOWN}: missing).",
        "",
        "| week of | Mon | Tue | Wed | Thu | Fri | Sat | Sun |",
        "|---|---|---|---|---|---|---|---|",
    ]
    monday = first - timedelta(days=first.weekday())
    while monday <= day:
        cells = []
        for offset in range(7):
            current = monday + timedelta(days=offset)
            status = statuses.get(current)
            if status is None:
                cells.append("")
                continue
            mark = f"{current.day} {STATUS_MARKS[status]}"
            run = runs.get(current)
            cells.append(f"[{mark}]({run.url})" if status == "failed" and run and run.url else mark)
        lines.append(f"| {monday} | " + " | ".join(cells) + " |")
        monday += timedelta(days=7)
    failed = [d for d, s in statuses.items() if s == "failed"]
    if failed:
        lines += ["", "Failed: " + ", ".join(str(d) for d in failed)]
    return "\n".join(lines) + "\n"
