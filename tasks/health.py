"""Model health rules: decide from the stored aggregates whether tonight's model is unhealthy,
record it, and tell Prefect (the amber alert of `pulsewatch automations apply` listens).

Three rules, all on aggregates the nightly run stores anyway (tasks/monitoring.py):
- realized_auc: the realized AUC (model_performance) of the last `auc_dates` evaluated score
  dates is below the AUC floor; `since` is the first date of that run of low dates;
- score_psi: tonight's risk-score PSI against the scoring model's reference is above the limit;
- feature_psi: the PSI of one of the model's `top_features` features by gain importance is
  above the limit (a categorical feature has no PSI and is not watched).
A drift breach's `since` is the first of the consecutive nights of the same model whose PSI of
that feature was above the limit.

A night's breaches are written to health_breaches (replaced per score date, so a rerun of the
night replaces them and a healthy rerun clears them) and sent as **one** Prefect event,
`pulsewatch.health.breached`, carrying all of them: one night is one amber message, however
many rules it breaks. A night whose breaches all persist from the previous scored night sends
none, unless one of them has lasted a multiple of `remind_days` (alert_due): a drift that stays
is announced when it starts and then weekly, not every night. With `retrain_on_health_alert`,
the next night's freshness check reads the previous scored night's breaches
(read_previous_breaches) and trains when one concerns the model that would score again
(retrain_reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from tasks.drift import RISK_SCORE
from tasks.errors import PulsewatchError
from tasks.knobs import DEFAULTS
from tasks.warehouse import Warehouse, friendly_errors

EVENT = "pulsewatch.health.breached"
RESOURCE_PREFIX = "pulsewatch.model."
TABLE = "health_breaches"
RULE_AUC = "realized_auc"
RULE_SCORE_PSI = "score_psi"
RULE_FEATURE_PSI = "feature_psi"
AUC = "auc"  # the `feature` of a realized_auc breach: the metric that moved
HISTORY_DAYS = 120  # how far back a streak's `since` is looked for


@dataclass(frozen=True)
class HealthPolicy:
    """The thresholds of the health rules (flow parameters of nightly-pipeline)."""

    auc_floor: float = DEFAULTS.auc_floor
    auc_dates: int = DEFAULTS.health_auc_dates
    psi_limit: float = DEFAULTS.health_psi_limit
    top_features: int = DEFAULTS.health_top_features
    remind_days: int = DEFAULTS.health_remind_days

    def __post_init__(self) -> None:
        if not 0.0 <= self.auc_floor <= 1.0:
            raise PulsewatchError(f"auc_floor: must be between 0 and 1 (got {self.auc_floor})")
        if self.auc_dates < 1:
            raise PulsewatchError(f"health_auc_dates: must be at least 1 (got {self.auc_dates})")
        if self.psi_limit <= 0:
            raise PulsewatchError(f"health_psi_limit: must be above 0 (got {self.psi_limit})")
        if self.top_features < 0:
            raise PulsewatchError(
                f"health_top_features: must be 0 or more (got {self.top_features})"
            )
        if self.remind_days < 1:
            raise PulsewatchError(
                f"health_remind_days: must be at least 1 (got {self.remind_days})"
            )


@dataclass(frozen=True)
class Breach:
    """One broken rule (aggregates only). `feature`: what moved ('auc', 'risk_score' or a
    feature name); `dates`: how many consecutive evaluated dates (AUC) or nights (PSI) broke
    it, tonight's included; `rank`: the feature's place by gain importance (feature_psi)."""

    rule: str
    feature: str
    value: float
    threshold: float
    since: date
    dates: int
    model_version: str
    rank: int | None = None

    def payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat()
        return data


@dataclass(frozen=True)
class HealthCheck:
    """A night's health: the rules it broke, and whether it alerted (alert_due)."""

    breaches: list[Breach]
    alerted: bool


AucHistory = Sequence[tuple[date, str, float | None]]  # (score date, model version, AUC)


def auc_breach(auc: AucHistory, policy: HealthPolicy) -> Breach | None:
    """realized_auc from (score date, model version, realized AUC) of the evaluated dates: the
    last `auc_dates` of them below the floor. A date whose AUC is undefined (one class) is
    skipped. The breach names the model that scored the latest of them."""
    known = sorted((day, version, value) for day, version, value in auc if value is not None)
    streak: list[tuple[date, str, float]] = []
    for row in reversed(known):
        if row[2] >= policy.auc_floor:
            break
        streak.append(row)
    if len(streak) < policy.auc_dates:
        return None
    latest, first = streak[0], streak[-1]
    return Breach(
        RULE_AUC, AUC, latest[2], policy.auc_floor, first[0], len(streak), latest[1], None
    )


def top_features(importance: Mapping[str, float], n: int) -> list[str]:
    """The n features with the highest gain importance (ties by name); unused ones never."""
    used = [(name, gain) for name, gain in importance.items() if gain > 0]
    return [name for name, _ in sorted(used, key=lambda kv: (-kv[1], kv[0]))[:n]]


def drift_breaches(
    history: Mapping[date, Mapping[str, float]],
    tonight: date,
    model_version: str,
    importance: Mapping[str, float],
    policy: HealthPolicy,
) -> list[Breach]:
    """score_psi and feature_psi from one model's PSI by night (tonight included): the risk
    score first, then the watched features by importance rank."""
    psi = history.get(tonight)
    if not psi:
        return []
    watched = [(RULE_SCORE_PSI, RISK_SCORE, None)] + [
        (RULE_FEATURE_PSI, name, rank)
        for rank, name in enumerate(top_features(importance, policy.top_features), start=1)
        if name in psi
    ]
    nights = sorted((day for day in history if day <= tonight), reverse=True)
    found = []
    for rule, name, rank in watched:
        if psi[name] <= policy.psi_limit:
            continue
        streak = []
        for day in nights:
            value = history[day].get(name)
            if value is None or value <= policy.psi_limit:
                break
            streak.append(day)
        since, count = streak[-1], len(streak)
        found.append(
            Breach(rule, name, psi[name], policy.psi_limit, since, count, model_version, rank)
        )
    return found


def decide_health(
    auc: AucHistory,
    drift: Mapping[date, Mapping[str, float]],
    tonight: date,
    model_version: str,
    importance: Mapping[str, float],
    policy: HealthPolicy,
) -> list[Breach]:
    """Every rule tonight breaks: drift (score, then features by rank), then realized AUC."""
    found = drift_breaches(drift, tonight, model_version, importance, policy)
    low_auc = auc_breach(auc, policy)
    return found + ([low_auc] if low_auc else [])


def health_event(score_date: date, model_version: str, breaches: Sequence[Breach]) -> dict:
    """The keyword arguments of prefect.events.emit_event for a night's breaches. The resource
    is the model that scored tonight; Prefect's events worker relates the event to the flow
    run (and its flow, deployment and tags) that emits it, which the alert links to."""
    return {
        "event": EVENT,
        "resource": {
            "prefect.resource.id": f"{RESOURCE_PREFIX}{model_version}",
            "prefect.resource.name": model_version,
        },
        "payload": {
            "score_date": score_date.isoformat(),
            "model_version": model_version,
            "breaches": [b.payload() for b in breaches],
        },
    }


def alert_due(
    breaches: Sequence[Breach], previous: Sequence[Breach], tonight: date, remind_days: int
) -> list[Breach]:
    """The breaches tonight that warrant an alert: a breach the previous scored night did not
    record (the same rule, feature and model), or one whose run has lasted a whole number of
    `remind_days` since it began. A breach that persists is thus announced once, then again
    every `remind_days` nights, not every night; health_breaches records every night either way.
    """
    known = {(b.rule, b.feature, b.model_version) for b in previous}
    return [
        b
        for b in breaches
        if (b.rule, b.feature, b.model_version) not in known
        or ((tonight - b.since).days > 0 and (tonight - b.since).days % remind_days == 0)
    ]


def retrain_reason(breaches: Sequence[Breach], model_version: str | None) -> str | None:
    """Why the next night retrains, when a breach recorded last night concerns the model that
    would score again (a model trained since then answered it already)."""
    mine = [b for b in breaches if b.model_version == model_version]
    if not mine:
        return None
    what = ", ".join(sorted({b.feature for b in mine}))
    return f"health alert on {mine[0].model_version} last night ({what})"


# --------------------------------------------------------------------------- warehouse


def read_health_inputs(
    warehouse: Warehouse, tonight: date, model_version: str, history_days: int = HISTORY_DAYS
) -> tuple[list[tuple[date, str, float | None]], dict[date, dict[str, float]]]:
    """The realized AUC of every evaluated date and this model's PSI by night, back
    `history_days` from tonight (aggregates only)."""
    bounds = {"first_score_date": tonight - timedelta(days=history_days), "score_date": tonight}
    with friendly_errors("read model health"):
        auc_rows = warehouse.fetch("health_auc_history", bounds)
        drift_rows = warehouse.fetch(
            "health_drift_history", {**bounds, "model_version": model_version}
        )
    auc = [
        (
            pd.Timestamp(r["score_date"]).date(),
            str(r["model_version"]),
            None if r["value"] is None else float(r["value"]),
        )
        for r in auc_rows
    ]
    drift: dict[date, dict[str, float]] = {}
    for r in drift_rows:
        drift.setdefault(pd.Timestamp(r["score_date"]).date(), {})[r["feature"]] = float(r["psi"])
    return auc, drift


def breaches_frame(
    score_date: date, breaches: Sequence[Breach], flow_run_id: str | None, recorded_at: datetime
) -> pd.DataFrame:
    """health_breaches rows, in the table's column order (a Redshift COPY loads by position)."""
    return pd.DataFrame(
        {
            "score_date": [score_date] * len(breaches),
            "model_version": [b.model_version for b in breaches],
            "rule": [b.rule for b in breaches],
            "feature": [b.feature for b in breaches],
            "value": [float(b.value) for b in breaches],
            "threshold": [float(b.threshold) for b in breaches],
            "since": [b.since for b in breaches],
            "dates": pd.array([b.dates for b in breaches], dtype="int64"),
            "importance_rank": pd.array([b.rank for b in breaches], dtype="Int64"),
            "flow_run_id": [flow_run_id] * len(breaches),
            "recorded_at": [recorded_at] * len(breaches),
        }
    )


def write_breaches(
    warehouse: Warehouse,
    score_date: date,
    breaches: Sequence[Breach],
    flow_run_id: str | None = None,
    recorded_at: datetime | None = None,
) -> int:
    """Replace the score date's rows of health_breaches (none when healthy)."""
    stamp = recorded_at or datetime.now(UTC).replace(tzinfo=None)
    frame = breaches_frame(score_date, breaches, flow_run_id, stamp)
    return warehouse.replace_partition(
        TABLE, "score_date", score_date, [frame], expected_rows=len(frame)
    )


def _breach(row: Mapping[str, Any]) -> Breach:
    rank = row["importance_rank"]
    return Breach(
        rule=str(row["rule"]),
        feature=str(row["feature"]),
        value=float(row["value"]),
        threshold=float(row["threshold"]),
        since=pd.Timestamp(row["since"]).date(),
        dates=int(row["dates"]),
        model_version=str(row["model_version"]),
        rank=None if rank is None or pd.isna(rank) else int(rank),
    )


def read_breaches(warehouse: Warehouse, score_date: date) -> list[Breach]:
    with friendly_errors(f"read {TABLE}"):
        rows = warehouse.fetch("health_breaches_read", {"score_date": score_date})
    return [_breach(r) for r in rows]


def read_previous_breaches(warehouse: Warehouse, tonight: date) -> list[Breach]:
    """The breaches recorded on the last scored date before tonight (none if it was healthy,
    or its health was never checked)."""
    with friendly_errors(f"read {TABLE}"):
        rows = warehouse.fetch("health_breaches_previous", {"score_date": tonight})
    return [_breach(r) for r in rows]
