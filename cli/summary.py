"""Short human summaries the CLI prints after a run (aggregates only)."""

from __future__ import annotations

from flows.nightly import NightlyReport
from tasks.backfill import BackfillReport
from tasks.reporting import ScoringReport, TrainingReport


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


def _query_hint(report: ScoringReport) -> str:
    query = (
        f"SELECT employee_id, risk_score FROM {report.table} "
        f"WHERE score_date = DATE '{report.score_date}' ORDER BY risk_score DESC LIMIT 10"
    )
    if report.where.startswith("duckdb:"):
        path = report.where.split(":", 1)[1].split(" schema ", 1)[0]
        escaped = query.replace('"', '\\"')
        return (
            '.venv/bin/python -c "import duckdb; '
            f'duckdb.connect(\'{path}\', read_only=True).sql(\\"{escaped}\\").show()"'
        )
    return query


def scoring_summary(report: ScoringReport) -> str:
    stats = report.stats
    auc = "-" if report.model_auc is None else f"{report.model_auc:.4f}"
    return (
        f"scored    {report.rows:,} active employees for {report.score_date} with "
        f"{report.model_version} (validation AUC {auc})\n"
        f"risk      mean {stats['mean']:.3f}, p90 {stats['p90']:.3f}, "
        f"{stats['high_risk']:,} at or above 0.5\n"
        f"results   {report.table} in {report.where}\n"
        f"look      {_query_hint(report)}"
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
