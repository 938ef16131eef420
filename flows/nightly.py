"""nightly-pipeline: train when needed, then score and load one score date."""

from dataclasses import dataclass, field
from datetime import date

from prefect import flow

from flows.score import score_population
from flows.train import train_model
from tasks.dates import resolve_date
from tasks.health import Breach, HealthPolicy
from tasks.knobs import DEFAULTS
from tasks.prefect_tasks.features import check_source_tables_task
from tasks.prefect_tasks.health import check_model_health_task
from tasks.prefect_tasks.monitoring import evaluate_past_scores_task
from tasks.prefect_tasks.registry import ensure_result_tables_task, training_needed_task
from tasks.prefect_tasks.run_report import publish_nightly_report_task
from tasks.reporting import ScoringReport, TrainingReport
from tasks.run_names import nightly_run_name


@dataclass(frozen=True)
class NightlyReport:
    training: TrainingReport | None
    scoring: ScoringReport
    health: list[Breach] = field(default_factory=list)  # the health rules tonight broke
    health_alerted: bool = False  # whether they alerted (a persisting breach does weekly)


@flow(name="nightly-pipeline", flow_run_name=nightly_run_name, log_prints=True)
def nightly_pipeline(
    score_date: date | None = None,
    max_model_age_days: int = DEFAULTS.max_model_age_days,
    force_train: bool = False,
    training_months: int = DEFAULTS.training_months,
    validation_months: int = DEFAULTS.validation_months,
    num_boost_round: int = DEFAULTS.num_boost_round,
    auc_floor: float = DEFAULTS.auc_floor,
    max_auc_drop: float = DEFAULTS.max_auc_drop,
    max_calibration_error: float = DEFAULTS.max_calibration_error,
    num_threads: int = DEFAULTS.num_threads,
    chunk_rows: int = DEFAULTS.chunk_rows,
    min_answered_ratio: float = DEFAULTS.min_answered_ratio,
    health_auc_dates: int = DEFAULTS.health_auc_dates,
    health_psi_limit: float = DEFAULTS.health_psi_limit,
    health_top_features: int = DEFAULTS.health_top_features,
    health_remind_days: int = DEFAULTS.health_remind_days,
    retrain_on_health_alert: bool = DEFAULTS.retrain_on_health_alert,
    reasons_top_share: float = DEFAULTS.reasons_top_share,
) -> NightlyReport:
    """The scheduled job for one score date: retrain if there is no champion or it is stale,
    then score every active employee and load the scores.

    Args:
        score_date: The date to score (YYYY-MM-DD). Empty: today in Asia/Tokyo.
        max_model_age_days: Retrain when the champion was trained more than this many days
            before the score date.
        force_train: Train a candidate even when the champion is fresh (the promotion gate
            still decides whether it scores).
        training_months: Survey months in the training window, validation months included.
        validation_months: The last months of the training window, held out to measure AUC.
        num_boost_round: LightGBM boosting rounds.
        auc_floor: A candidate below this validation AUC is rejected; a health alert fires
            when the realized AUC of the last health_auc_dates evaluated score dates is below it.
        max_auc_drop: A candidate more than this below the champion's AUC (same months) is
            rejected.
        max_calibration_error: A candidate whose calibrated risk has a higher expected
            calibration error (10 bins, cross-fitted on the validation months) is rejected.
        num_threads: LightGBM threads for training and scoring (the ECS task has 2 vCPU).
        chunk_rows: Employees scored per chunk; bounds the scoring memory.
        min_answered_ratio: Refuse a month whose answered share falls below this fraction of
            the median share of the months before it.
        health_auc_dates: Health alert (amber) when this many consecutive evaluated score
            dates have a realized AUC below auc_floor.
        health_psi_limit: Health alert (amber) when tonight's PSI of the risk score, or of one
            of the champion's health_top_features features, is above this.
        health_top_features: How many of the scoring model's features, by gain importance,
            the drift alert watches.
        health_remind_days: A breach that persists from the previous scored night alerts
            again only when it has lasted a multiple of this many days (a new one always does).
        retrain_on_health_alert: Train (the promotion gate still decides) when the previous
            scored night recorded a health alert about the model that would score tonight.
        reasons_top_share: Share of the night's highest risks (0 to 1; 0.10 = the top 10%)
            whose three most risk-raising features are stored in score_reasons; 0: none.
    """
    day = resolve_date(score_date)
    health = HealthPolicy(
        auc_floor, health_auc_dates, health_psi_limit, health_top_features, health_remind_days
    )
    # Once per night, here; the subflows are told not to repeat them (check_tables=False).
    # The source-data contract is checked by the subflows: train-model checks its window (the
    # scoring window's months included) before it trains, score-population its own before it
    # scores; checking here too cost a third pass over the source rows (2-3 s on 1M employees).
    check_source_tables_task()
    ensure_result_tables_task()
    training = None
    if training_needed_task(day, max_model_age_days, force_train, retrain_on_health_alert):
        training = train_model(
            train_end_date=day,
            training_months=training_months,
            validation_months=validation_months,
            auc_floor=auc_floor,
            max_auc_drop=max_auc_drop,
            max_calibration_error=max_calibration_error,
            num_boost_round=num_boost_round,
            num_threads=num_threads,
            check_tables=False,
            min_answered_ratio=min_answered_ratio,
        )
    scoring = score_population(
        score_date=day,
        chunk_rows=chunk_rows,
        num_threads=num_threads,
        check_tables=False,
        min_answered_ratio=min_answered_ratio,
        reasons_top_share=reasons_top_share,
    )
    publish_nightly_report_task(training, scoring)
    evaluate_past_scores_task(day, scoring)
    checked = check_model_health_task(scoring, health)  # reads what monitoring stored
    return NightlyReport(training, scoring, checked.breaches, checked.alerted)
