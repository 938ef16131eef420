"""train-model: extract → fit → compare with the champion → store → promote or reject."""

from datetime import date

from prefect import flow

from tasks.dates import resolve_date
from tasks.knobs import DEFAULTS
from tasks.prefect_tasks.features import check_source_tables_task, extract_training_frame_task
from tasks.prefect_tasks.model_store import load_incumbent_task, save_model_task
from tasks.prefect_tasks.registry import (
    ensure_result_tables_task,
    model_for_date_task,
    promote_or_reject_task,
    read_champion_task,
)
from tasks.prefect_tasks.reporting import publish_model_card_task, publish_training_report_task
from tasks.prefect_tasks.source_checks import check_source_data_task
from tasks.prefect_tasks.training import (
    evaluate_champion_task,
    fit_model_task,
    release_training_data_task,
)
from tasks.promotion import PromotionPolicy
from tasks.reporting import TrainingReport
from tasks.run_names import train_run_name
from tasks.training import TrainingConfig


@flow(name="train-model", flow_run_name=train_run_name, log_prints=True)
def train_model(
    train_end_date: date | None = None,
    training_months: int = DEFAULTS.training_months,
    validation_months: int = DEFAULTS.validation_months,
    auc_floor: float = DEFAULTS.auc_floor,
    max_auc_drop: float = DEFAULTS.max_auc_drop,
    max_calibration_error: float = DEFAULTS.max_calibration_error,
    num_boost_round: int = DEFAULTS.num_boost_round,
    num_threads: int = DEFAULTS.num_threads,
    check_tables: bool = True,
    min_answered_ratio: float = DEFAULTS.min_answered_ratio,
) -> TrainingReport:
    """Train a candidate on the data known by a date and promote it if it clears the AUC floor,
    is not worse than the champion by more than `max_auc_drop` and its calibrated risk is off
    by at most `max_calibration_error`. Trained as of a date before
    the champion's cut-off, it is compared with the model that may score that date and, if it
    passes, registered as a challenger for the dates from its cut-off on (the champion stays).

    Args:
        train_end_date: Train on what was known on this date (YYYY-MM-DD). Empty: today in
            Asia/Tokyo.
        training_months: Survey months in the training window, validation months included.
        validation_months: The last months of the training window, held out to measure AUC.
        auc_floor: A candidate below this validation AUC is rejected.
        max_auc_drop: A candidate more than this below the champion's AUC (same months) is
            rejected.
        max_calibration_error: A candidate whose calibrated risk has a higher expected
            calibration error (10 bins, cross-fitted on the validation months) is rejected.
        num_boost_round: LightGBM boosting rounds.
        num_threads: LightGBM threads (the ECS task has 2 vCPU).
        check_tables: Check that the source tables exist and create the result tables first.
            nightly-pipeline passes false: it has done both earlier in the same run.
        min_answered_ratio: Refuse a month whose answered share falls below this fraction of
            the median share of the months before it.
    """
    end = resolve_date(train_end_date)
    config = TrainingConfig(
        validation_months=validation_months,
        num_boost_round=num_boost_round,
        num_threads=num_threads,
    )
    if check_tables:
        check_source_tables_task()
    check_source_data_task(end, training_months, min_answered_ratio)
    if check_tables:
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
    policy = PromotionPolicy(auc_floor, max_auc_drop, max_calibration_error)
    entry, decision = promote_or_reject_task(
        stored, candidate, champion, incumbent_auc, policy, no_incumbent
    )
    publish_model_card_task(candidate, entry, decision)
    return publish_training_report_task(candidate, entry, incumbent, decision)
