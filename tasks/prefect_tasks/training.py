"""The training steps as Prefect tasks, over the plain functions in tasks/training.py."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.model import PulseModel
from tasks.training import TrainingConfig, evaluate_streamed, fit_streamed
from tasks.training_data import TrainingData


@task(name="fit-model", persist_result=False, cache_policy=NONE)
def fit_model_task(data: TrainingData, config: TrainingConfig, train_end_date: date) -> PulseModel:
    model = fit_streamed(data, config, train_end_date)
    get_run_logger().info(
        "Candidate validation AUC %.4f (%d train rows, %d validation rows)",
        model.metrics["auc"],
        model.metrics["n_train"],
        model.metrics["n_valid"],
    )
    return model


@task(name="evaluate-champion", persist_result=False, cache_policy=NONE)
def evaluate_champion_task(
    champion: PulseModel | None, data: TrainingData, validation_months: int
) -> float | None:
    if champion is None:
        return None
    return evaluate_streamed(champion, data, validation_months)


@task(name="release-training-data", persist_result=False, cache_policy=NONE)
def release_training_data_task(data: TrainingData) -> None:
    """Remove the spilled training data from the work dir (the run needs it no more)."""
    data.close()
