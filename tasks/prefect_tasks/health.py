"""The model-health check as a Prefect task, over the plain functions in tasks/health.py."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.health import (
    RULE_AUC,
    Breach,
    HealthCheck,
    HealthPolicy,
    alert_due,
    decide_health,
    health_event,
    read_health_inputs,
    read_previous_breaches,
    write_breaches,
)
from tasks.reporting import ScoringReport
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.warehouse import open_warehouse


def describe(breach: Breach) -> str:
    """One log line (aggregates only)."""
    if breach.rule == RULE_AUC:
        return (
            f"realized AUC {breach.value:.3f} below the floor {breach.threshold:.2f} on "
            f"{breach.dates} consecutive evaluated score dates since {breach.since}"
        )
    rank = f" (importance rank {breach.rank})" if breach.rank else ""
    return (
        f"{breach.feature}{rank} PSI {breach.value:.3f} above {breach.threshold:.2f} for "
        f"{breach.dates} night(s) since {breach.since}"
    )


@task(name="check-model-health", cache_policy=NONE, **IO_RETRIES)
def check_model_health_task(scoring: ScoringReport, policy: HealthPolicy) -> HealthCheck:
    """Tonight's health rules over the stored drift and realized performance: record the
    breaches in health_breaches (replacing the night's) and, when any, emit one
    `pulsewatch.health.breached` event carrying all of them (the amber alert), unless they all
    persist from the previous scored night and none is due a reminder (health.alert_due)."""
    from prefect.events import emit_event
    from prefect.runtime import flow_run

    logger = get_run_logger()
    day, version = scoring.score_date, scoring.model_version
    importance = scoring.stats.get("importance") or {}
    with open_warehouse(get_settings()) as warehouse:
        auc, drift = read_health_inputs(warehouse, day, version)
        breaches = decide_health(auc, drift, day, version, importance, policy)
        previous = read_previous_breaches(warehouse, day) if breaches else []
        write_breaches(warehouse, day, breaches, flow_run.id)
    if not breaches:
        logger.info("Model health for %s: no rule breached", day)
        return HealthCheck([], alerted=False)
    for breach in breaches:
        logger.warning("Model health for %s: %s", day, describe(breach))
    alerted = bool(alert_due(breaches, previous, day, policy.remind_days))
    if alerted:
        emit_event(**health_event(day, version, breaches))
    else:
        logger.info(
            "Model health for %s: every breach persists from the previous scored night and was "
            "alerted then; no alert tonight (a reminder every %d days of a breach's run)",
            day,
            policy.remind_days,
        )
    return HealthCheck(breaches, alerted)
