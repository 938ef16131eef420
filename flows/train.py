"""train-model: extract → fit → compare with the champion → store → promote or reject."""

from datetime import date

from prefect import flow

from tasks.dates import resolve_date
from tasks.features import check_source_tables_task, extract_training_frame_task
from tasks.model_store import load_incumbent_task, save_model_task
from tasks.promotion import PromotionPolicy
from tasks.registry import (
    ensure_result_tables_task,
    model_for_date_task,
    promote_or_reject_task,
    read_champion_task,
)
from tasks.reporting import TrainingReport, publish_training_report_task
from tasks.source_checks import check_source_data_task
from tasks.training import (
    TrainingConfig,
    evaluate_champion_task,
    fit_model_task,
    release_training_data_task,
)


@flow(name="train-model", log_prints=True)
def train_model(
    train_end_date: date | None = None,
    training_months: int = 18,
    validation_months: int = 3,
    auc_floor: float = 0.70,
    max_auc_drop: float = 0.02,
    num_boost_round: int = 200,
    num_threads: int = 1,
) -> TrainingReport:
    """Train a candidate on data known by `train_end_date` (default: today) and promote it if
    it clears the AUC floor and is not worse than the champion by more than `max_auc_drop`.
    Trained as of a date before the champion's cut-off, it is compared with the model that may
    score that date and, if it passes, registered as a challenger for the dates from its
    cut-off on (the champion stays)."""
    end = resolve_date(train_end_date)
    config = TrainingConfig(
        validation_months=validation_months,
        num_boost_round=num_boost_round,
        num_threads=num_threads,
    )
    check_source_tables_task()
    check_source_data_task(end, training_months)
    ensure_result_tables_task()
    data = extract_training_frame_task(end, training_months)  # spilled to the work dir
    candidate = fit_model_task(data, config, end)
    champion = read_champion_task()
    incumbent, no_incumbent = model_for_date_task(end)  # what scores `end`: the model to beat
    if incumbent is not None:
        incumbent_model, no_incumbent = load_incumbent_task(incumbent.stored, incumbent.role)
    else:
        incumbent_model = None
    incumbent_auc = evaluate_champion_task(incumbent_model, data, validation_months)
    release_training_data_task(data)
    stored = save_model_task(candidate)
    policy = PromotionPolicy(auc_floor, max_auc_drop)
    entry, decision = promote_or_reject_task(
        stored, candidate, champion, incumbent_auc, policy, no_incumbent
    )
    return publish_training_report_task(candidate, entry, incumbent, decision)
