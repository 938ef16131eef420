"""Training and evaluation: LightGBM with a time-based split, AUC on the later months."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import lightgbm as lgb
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from sklearn.metrics import roc_auc_score

from tasks.contract import CATEGORICAL_FEATURES, LABEL
from tasks.errors import DataContractError
from tasks.model import PulseModel, model_matrix


@dataclass(frozen=True)
class TrainingConfig:
    validation_months: int = 3
    num_boost_round: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    # Explicit: LightGBM's default OpenMP threading was measured 100x slower on a busy
    # 2-core machine than num_threads=1.
    num_threads: int = 1
    seed: int = 7

    def lightgbm_params(self) -> dict:
        return {
            "objective": "binary",
            "metric": "auc",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


def split_by_time(frame: pd.DataFrame, validation_months: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the earlier feature months, validate on the last `validation_months`."""
    months = sorted(frame["feature_month"].unique())
    if len(months) <= validation_months:
        raise DataContractError(
            f"training frame has {len(months)} months; need more than the "
            f"{validation_months} validation months"
        )
    cut = months[-validation_months]
    return frame[frame["feature_month"] < cut], frame[frame["feature_month"] >= cut]


def auc(model: PulseModel, frame: pd.DataFrame) -> float:
    labels = frame[LABEL]
    if labels.nunique() < 2:
        raise DataContractError("validation window has a single label class; AUC is undefined")
    return float(roc_auc_score(labels, model.predict(frame)))


def fit_model(frame: pd.DataFrame, config: TrainingConfig, train_end_date: date) -> PulseModel:
    """Fit on the training months; metrics describe the held-out validation months."""
    train, valid = split_by_time(frame, config.validation_months)
    if train[LABEL].nunique() < 2:
        raise DataContractError("training window has a single label class; nothing to learn")
    categories = {
        column: sorted(str(v) for v in train[column].dropna().unique())
        for column in CATEGORICAL_FEATURES
    }
    params = config.lightgbm_params()
    dataset = lgb.Dataset(model_matrix(train, categories), label=train[LABEL], free_raw_data=True)
    booster = lgb.train(params, dataset, num_boost_round=config.num_boost_round)
    model = PulseModel(
        booster=booster,
        categories=categories,
        params={**params, "num_boost_round": config.num_boost_round},
    )
    model.metrics = {
        "auc": auc(model, valid),
        "n_train": len(train),
        "n_valid": len(valid),
        "positive_rate_train": float(train[LABEL].mean()),
        "positive_rate_valid": float(valid[LABEL].mean()),
        "train_months": [_iso(train["feature_month"].min()), _iso(train["feature_month"].max())],
        "valid_months": [_iso(valid["feature_month"].min()), _iso(valid["feature_month"].max())],
        "train_end_date": train_end_date.isoformat(),
        "config": asdict(config),
    }
    return model


def evaluate_on_validation(model: PulseModel, frame: pd.DataFrame, validation_months: int) -> float:
    """AUC of an existing model on the same validation months a candidate is judged on."""
    _, valid = split_by_time(frame, validation_months)
    return auc(model, valid)


def _iso(value: object) -> str:
    return pd.Timestamp(value).date().isoformat()


@task(name="fit-model", persist_result=False, cache_policy=NONE)
def fit_model_task(frame: pd.DataFrame, config: TrainingConfig, train_end_date: date) -> PulseModel:
    model = fit_model(frame, config, train_end_date)
    get_run_logger().info(
        "Candidate validation AUC %.4f (%d train rows, %d validation rows)",
        model.metrics["auc"],
        model.metrics["n_train"],
        model.metrics["n_valid"],
    )
    return model


@task(name="evaluate-champion", persist_result=False, cache_policy=NONE)
def evaluate_champion_task(
    champion: PulseModel | None, frame: pd.DataFrame, validation_months: int
) -> float | None:
    if champion is None:
        return None
    return evaluate_on_validation(champion, frame, validation_months)
