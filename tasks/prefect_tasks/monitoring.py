"""Tonight's drift and the realized performance of past score dates as a Prefect task, over
the plain functions in tasks/monitoring.py."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.monitoring import LOOKBACK_DAYS, Evaluation, evaluate_past_scores, write_drift
from tasks.reporting import ScoringReport
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.warehouse import open_warehouse


@task(name="evaluate-past-scores", cache_policy=NONE, **IO_RETRIES)
def evaluate_past_scores_task(
    score_date: date, scoring: ScoringReport, lookback_days: int = LOOKBACK_DAYS
) -> Evaluation:
    """Tonight's drift into model_drift, then the realized performance of every past score
    date whose labels became known (model_performance). Logs aggregates only."""
    logger = get_run_logger()
    with open_warehouse(get_settings()) as warehouse:
        psi = scoring.stats.get("psi")
        if psi:
            write_drift(warehouse, scoring.score_date, scoring.model_version, psi)
            worst = max(psi, key=lambda name: psi[name])
            logger.info(
                "Drift for %s: highest PSI %.3f (%s), %d features above 0.25",
                scoring.score_date,
                psi[worst],
                worst,
                sum(value > 0.25 for value in psi.values()),
            )
        else:
            logger.warning(
                "Model %s has no reference distribution (trained before drift monitoring): "
                "no drift for %s; retrain to get one",
                scoring.model_version,
                scoring.score_date,
            )
        evaluation = evaluate_past_scores(warehouse, score_date, lookback_days)
    known = [value for value in evaluation.auc.values() if value is not None]
    if evaluation.score_dates:
        logger.info(
            "Realized performance of %d score dates (%s..%s): AUC %s",
            len(evaluation.score_dates),
            evaluation.score_dates[0],
            evaluation.score_dates[-1],
            f"{min(known):.3f}..{max(known):.3f}" if known else "undefined",
        )
    else:
        logger.info("No past score date is newly evaluable tonight")
    return evaluation
