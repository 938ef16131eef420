"""nightly-pipeline: train when needed, then score and load one score date."""

from dataclasses import dataclass
from datetime import date

from prefect import flow

from flows.score import score_population
from flows.train import train_model
from tasks.dates import resolve_date
from tasks.features import check_source_tables_task
from tasks.registry import ensure_result_tables_task, training_needed_task
from tasks.reporting import ScoringReport, TrainingReport


@dataclass(frozen=True)
class NightlyReport:
    training: TrainingReport | None
    scoring: ScoringReport


@flow(name="nightly-pipeline", log_prints=True)
def nightly_pipeline(
    score_date: date | None = None,
    max_model_age_days: int = 8,
    force_train: bool = False,
    training_months: int = 18,
    auc_floor: float = 0.70,
    max_auc_drop: float = 0.02,
    num_threads: int = 1,
    chunk_rows: int = 50_000,
    min_answered_ratio: float = 0.5,
) -> NightlyReport:
    """The scheduled job for one score date (default: today, Asia/Tokyo): retrain if there is
    no champion or it is older than `max_model_age_days`, then score and load."""
    day = resolve_date(score_date)
    # The source-data contract is checked by the subflows: train-model checks its window (the
    # scoring window's months included) before it trains, score-population its own before it
    # scores; checking here too cost a third pass over the source rows (2-3 s on 1M employees).
    check_source_tables_task()
    ensure_result_tables_task()
    training = None
    if training_needed_task(day, max_model_age_days, force_train):
        training = train_model(
            train_end_date=day,
            training_months=training_months,
            auc_floor=auc_floor,
            max_auc_drop=max_auc_drop,
            num_threads=num_threads,
            min_answered_ratio=min_answered_ratio,
        )
    scoring = score_population(
        score_date=day,
        chunk_rows=chunk_rows,
        num_threads=num_threads,
        min_answered_ratio=min_answered_ratio,
    )
    return NightlyReport(training=training, scoring=scoring)
