"""The run reports' Prefect tasks (artifacts in the UI, aggregates only), over the plain
functions in tasks/reporting.py."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from tasks.model import PulseModel
from tasks.model_card import model_card_markdown
from tasks.promotion import PromotionDecision
from tasks.registry import RegistryEntry
from tasks.reporting import ScoringReport, TrainingReport, comparison_table, scoring_markdown
from tasks.scoring import ScoreFile
from tasks.settings import get_settings
from tasks.warehouse import open_warehouse


@task(name="publish-model-comparison", cache_policy=NONE)
def publish_training_report_task(
    model: PulseModel,
    entry: RegistryEntry,
    champion: RegistryEntry | None,
    decision: PromotionDecision,
) -> TrainingReport:
    rows = comparison_table(model, champion, decision)
    rows[0]["candidate"] = entry.model_version
    create_table_artifact(
        key="model-comparison",
        table=rows,
        description=f"Candidate {entry.model_version} (cut-off {model.metrics['train_end_date']})"
        f": {'promoted to champion' if decision.promote else 'rejected'}",
    )
    if not decision.promote:
        get_run_logger().warning(
            "Candidate rejected; the champion keeps scoring: %s", decision.reason
        )
    return TrainingReport(
        model_version=entry.model_version,
        status=entry.status,
        auc=decision.candidate_auc,
        champion_version=champion.model_version if champion else None,
        champion_auc=decision.champion_auc,
        reason=decision.reason,
        n_train=int(model.metrics["n_train"]),
        n_valid=int(model.metrics["n_valid"]),
    )


@task(name="publish-model-card", cache_policy=NONE)
def publish_model_card_task(
    model: PulseModel, entry: RegistryEntry, decision: PromotionDecision
) -> str:
    """The trained model's card as a markdown artifact (key `model-card`: one per training run,
    the key's history is every model's card); returns the markdown."""
    markdown = model_card_markdown(
        entry.model_version,
        entry.status,
        model.metrics,
        model.categories,
        model.gain_importance(),
        decision,
    )
    create_markdown_artifact(
        key="model-card",
        markdown=markdown,
        description=f"Model {entry.model_version} (cut-off {model.metrics['train_end_date']}):"
        f" {entry.status}",
    )
    return markdown


@task(name="publish-scoring-summary", cache_policy=NONE)
def publish_scoring_report_task(
    scores: ScoreFile, written: int, champion: RegistryEntry
) -> ScoringReport:
    with open_warehouse(get_settings()) as warehouse:
        table, where = warehouse.qualified("condition_scores"), warehouse.where()
    report = ScoringReport(
        score_date=scores.score_date,
        model_version=champion.model_version,
        model_auc=champion.auc,
        rows=written,
        stats=scores.stats,
        table=table,
        where=where,
    )
    create_markdown_artifact(
        key="scoring-summary",
        markdown=scoring_markdown(report),
        description=f"{written:,} employees scored for {scores.score_date}",
    )
    return report
