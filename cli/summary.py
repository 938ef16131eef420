"""Short human summaries the CLI prints after a run (aggregates only)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli.look import top_scores_sql
from tasks.backfill import BackfillReport
from tasks.reporting import ScoringReport, TrainingReport

if TYPE_CHECKING:  # a type only: flows.nightly imports Prefect and LightGBM (seconds)
    from flows.nightly import NightlyReport


def training_summary(report: TrainingReport) -> str:
    champion = (
        f"champion {report.champion_version} scored {report.champion_auc:.4f} on the same months"
        if report.champion_version and report.champion_auc is not None
        else "no previous champion"
    )
    return (
        f"trained   {report.model_version}: validation AUC {report.auc:.4f} "
        f"({report.n_train:,} training rows, {report.n_valid:,} validation rows; {champion})\n"
        f"decision  {report.status}: {report.reason}"
    )


def look_command(report: ScoringReport) -> str:
    """What to run to see the night's highest scores: for DuckDB a command that works from any
    directory (absolute paths) and while a run is writing (cli/look.py); else the SQL."""
    if report.where.startswith("duckdb:"):
        path = report.where.split(":", 1)[1].split(" schema ", 1)[0]
        return shlex.join(
            [
                sys.executable,
                "-m",
                "cli.look",
                str(Path(path).resolve()),
                report.table,
                report.score_date.isoformat(),
            ]
        )
    return top_scores_sql(report.table, report.score_date)


def scoring_summary(report: ScoringReport) -> str:
    stats = report.stats
    auc = "-" if report.model_auc is None else f"{report.model_auc:.4f}"
    return (
        f"scored    {report.rows:,} active employees for {report.score_date} with "
        f"{report.model_version} (validation AUC {auc})\n"
        f"risk      mean {stats['mean']:.3f}, p90 {stats['p90']:.3f}, "
        f"{stats['high_risk']:,} at or above 0.5\n"
        f"results   {report.table} in {report.where}\n"
        f"look      {look_command(report)}"
    )


def nightly_summary(report: NightlyReport) -> str:
    parts = [training_summary(report.training)] if report.training else []
    if report.training is None:
        parts.append(f"model     champion {report.scoring.model_version} is fresh; no training")
    parts.append(scoring_summary(report.scoring))
    return "\n".join(parts)


def backfill_summary(report: BackfillReport) -> str:
    if report.dry_run:
        days = ", ".join(str(d) for d in report.planned) or "none"
        return (
            f"dry run: would run {len(report.planned)} dates ({days}); "
            f"{len(report.skipped)} already scored"
        )
    return (
        f"backfill  {len(report.done)} done, {len(report.failed)} failed, "
        f"{len(report.skipped)} skipped (already scored)"
    )
