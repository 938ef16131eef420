"""The model registry's Prefect tasks, over the plain functions in tasks/registry.py."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.calibration import calibration_error
from tasks.errors import NoChampionError
from tasks.health import read_previous_breaches, retrain_reason
from tasks.model import PulseModel
from tasks.model_store import StoredModel
from tasks.promotion import PromotionDecision, PromotionPolicy, decide
from tasks.registry import (
    RegistryEntry,
    ensure_result_tables,
    no_model_message,
    read_champion,
    read_model_for_date,
    record_model,
    scoring_model,
    training_needed,
)
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.warehouse import friendly_errors, open_warehouse


@task(name="ensure-result-tables", **IO_RETRIES)
def ensure_result_tables_task() -> None:
    with open_warehouse(get_settings()) as warehouse:
        ensure_result_tables(warehouse)


@task(name="read-champion", cache_policy=NONE, **IO_RETRIES)
def read_champion_task() -> RegistryEntry | None:
    with open_warehouse(get_settings()) as warehouse:
        return read_champion(warehouse)


@task(name="model-for-date", cache_policy=NONE, **IO_RETRIES)
def model_for_date_task(score_date: date) -> tuple[RegistryEntry | None, str]:
    """The model that may score `score_date`, or (None, why no model may)."""
    with open_warehouse(get_settings()) as warehouse, friendly_errors("read model_registry"):
        model, champion = scoring_model(warehouse, score_date)
    if model is not None:
        return model, ""
    if champion is None:
        return None, "no champion yet"
    return None, (
        f"no model trained as of {score_date} or earlier (the champion "
        f"{champion.model_version} learned from data up to {champion.train_end_date})"
    )


@task(name="promote-or-reject", cache_policy=NONE, **IO_RETRIES)
def promote_or_reject_task(
    stored: StoredModel,
    model: PulseModel,
    champion: RegistryEntry | None,
    incumbent_auc: float | None,
    policy: PromotionPolicy,
    no_incumbent: str = "no champion yet",
) -> tuple[RegistryEntry, PromotionDecision]:
    """Apply the promotion gate (against the incumbent's AUC on the same validation months,
    or the floor alone when there is none: `no_incumbent` says why; and the candidate's
    calibration error against the policy's maximum) and record the candidate
    with its final status. `champion` is the champion the run started with."""
    from prefect.runtime import flow_run

    decision = decide(
        model.metrics["auc"],
        incumbent_auc,
        policy,
        no_incumbent,
        calibration_error=calibration_error(model.metrics),
    )
    expected_champion = champion.model_version if champion else None
    with open_warehouse(get_settings()) as warehouse:
        entry = record_model(warehouse, stored, model, decision, expected_champion, flow_run.id)
    logger = get_run_logger()
    if entry.status == "champion":
        logger.info("Model %s is the new champion: %s", entry.model_version, decision.reason)
    elif entry.status == "challenger":
        logger.info(
            "Model %s is a challenger: it may score dates from %s on; the champion %s, which "
            "learned from later data, stays champion (%s)",
            entry.model_version,
            entry.train_end_date,
            expected_champion,
            decision.reason,
        )
    else:
        logger.warning("Model %s rejected: %s", entry.model_version, decision.reason)
    return entry, decision


@task(name="check-model-freshness", cache_policy=NONE, **IO_RETRIES)
def training_needed_task(
    score_date: date, max_model_age_days: int, force: bool, on_health_alert: bool = False
) -> bool:
    """Whether the nightly run trains (as of its score date) before it scores: no model or a
    stale one, forced, or (`on_health_alert`) a health alert recorded on the previous scored
    night about the model that would score tonight (tasks/health.py)."""
    with open_warehouse(get_settings()) as warehouse:
        model = read_model_for_date(warehouse, score_date)
        breaches = read_previous_breaches(warehouse, score_date) if on_health_alert else []
    needed, reason = training_needed(model, score_date, max_model_age_days)
    alert = retrain_reason(breaches, model.model_version if model else None)
    if not needed and alert:
        needed, reason = True, alert
    if force:
        needed, reason = True, "training forced by parameter"
    get_run_logger().info("%s: %s", "Training" if needed else "Skipping training", reason)
    return needed


@task(name="model-for-scoring", cache_policy=NONE, **IO_RETRIES)
def require_model_for_date_task(score_date: date) -> RegistryEntry:
    """The model that scores `score_date`; a one-line refusal when no model may (no model
    scores its own past)."""
    with open_warehouse(get_settings()) as warehouse, friendly_errors("read model_registry"):
        model, champion = scoring_model(warehouse, score_date)
    if model is None:
        raise NoChampionError(no_model_message(champion, score_date))
    if model.status != "champion":
        get_run_logger().info(
            "Scoring %s with %s model %s (cut-off %s): the champion learned from data after "
            "that date",
            score_date,
            model.status,
            model.model_version,
            model.train_end_date,
        )
    return model
