"""What a run shows in the Prefect UI and returns to the CLI: aggregates only, never rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tasks.model import PulseModel
from tasks.promotion import PromotionDecision
from tasks.registry import RegistryEntry

NONE_SHOWN = "\u2013"  # en dash for "no value": a bare "-" can render as a list bullet


@dataclass(frozen=True)
class TrainingReport:
    model_version: str
    status: str
    auc: float
    champion_version: str | None
    champion_auc: float | None
    reason: str
    n_train: int
    n_valid: int


@dataclass(frozen=True)
class ScoringReport:
    score_date: date
    model_version: str
    model_auc: float | None
    rows: int
    stats: dict
    table: str
    where: str


def comparison_table(
    model: PulseModel, champion: RegistryEntry | None, decision: PromotionDecision
) -> list[dict]:
    """Candidate next to champion, metric by metric (champion AUC measured on the candidate's
    validation months), then the gate's decision and its reason, each a row that reads
    correctly across: what happens to the candidate, what happens to the champion."""
    metrics = model.metrics
    if decision.promote:
        outcome = {"candidate": "promoted to champion", "champion": "retired" if champion else ""}
    else:
        outcome = {
            "candidate": "rejected",
            "champion": "keeps scoring" if champion else "none: nothing scores",
        }
    return [
        {
            "metric": "model version",
            "candidate": "(this run)",
            "champion": champion.model_version if champion else "none",
        },
        {
            "metric": "validation AUC",
            "candidate": f"{decision.candidate_auc:.4f}",
            "champion": NONE_SHOWN
            if decision.champion_auc is None
            else f"{decision.champion_auc:.4f}",
        },
        {
            "metric": "training rows",
            "candidate": f"{int(metrics['n_train']):,}",
            "champion": f"{champion.n_train:,}" if champion else NONE_SHOWN,
        },
        {
            "metric": "validation rows",
            "candidate": f"{int(metrics['n_valid']):,}",
            "champion": "same months" if champion else NONE_SHOWN,
        },
        {
            "metric": "positive rate (validation)",
            "candidate": f"{metrics['positive_rate_valid']:.3f}",
            "champion": NONE_SHOWN,
        },
        {
            "metric": "training cut-off",
            "candidate": metrics["train_end_date"],
            "champion": champion.train_end_date.isoformat() if champion else NONE_SHOWN,
        },
        {"metric": "decision", **outcome},
        {"metric": "reason", "candidate": decision.reason, "champion": ""},
    ]


def reasons_markdown(reasons: dict | None) -> str:
    """The reasons' aggregates: how many employees got them, and how often each feature is the
    first reason (counts per feature only, never an employee)."""
    if not reasons:
        return "| reasons | none stored (reasons_top_share 0) |\n"
    first = ", ".join(f"`{name}` {n:,}" for name, n in list(reasons["first_reason"].items())[:5])
    return (
        f"| reasons (`score_reasons`) | {reasons['employees']:,} employees in the top "
        f"{100 * reasons['top_share']:g}% of risk |\n"
        f"| most frequent first reasons | {first or NONE_SHOWN} |\n"
    )


def scoring_markdown(report: ScoringReport) -> str:
    stats = report.stats
    total = max(report.rows, 1)
    bars = "\n".join(
        f"| {i / 10:.1f} to {(i + 1) / 10:.1f} | {count:,} | {100 * count / total:.1f}% |"
        for i, count in enumerate(stats["histogram"])
    )
    auc = NONE_SHOWN if report.model_auc is None else f"{report.model_auc:.4f}"
    return f"""# Condition scores for {report.score_date}

| item | value |
|---|---|
| score date | {report.score_date} |
| employees scored | {report.rows:,} |
| model | `{report.model_version}` (validation AUC {auc}) |
| mean risk | {stats["mean"]:.3f} |
| median / p90 / p99 risk | {stats["p50"]:.3f} / {stats["p90"]:.3f} / {stats["p99"]:.3f} |
| at or above 0.5 | {stats["high_risk"]:,} ({100 * stats["high_risk"] / total:.1f}%) |
| written to | `{report.table}` in {report.where} |
{reasons_markdown(stats.get("reasons"))}
## Risk score distribution

| risk | employees | share |
|---|---|---|
{bars}
"""
