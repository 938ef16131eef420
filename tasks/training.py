"""Training and evaluation: LightGBM with a time-based split, AUC on the later months.

Two entry points fit the same model: `fit_streamed` on TrainingData (tasks/training_data.py,
the flow's path: memory flat in the number of rows) and `fit_model` on an in-memory frame (the
reference the streamed path is tested against, and the path of small fixtures in tests).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from tasks.calibration import calibrate
from tasks.contract import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES
from tasks.drift import build_reference
from tasks.errors import DataContractError
from tasks.knobs import DEFAULTS
from tasks.model import PulseModel, model_matrix
from tasks.training_data import TrainingData, month_range


@dataclass(frozen=True)
class TrainingConfig:
    validation_months: int = DEFAULTS.validation_months
    num_boost_round: int = DEFAULTS.num_boost_round
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    num_threads: int = DEFAULTS.num_threads
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
    return _auc(frame[LABEL].to_numpy(), model.predict(frame))


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
    valid_labels = valid[LABEL].to_numpy()
    valid_ids = valid["employee_id"].to_numpy()
    model.calibrator, calibration = calibrate(model.margin(valid), valid_labels, valid_ids)
    scores = model.predict(valid)
    model.metrics = _metrics(
        scores,
        train[LABEL].to_numpy(),
        valid_labels,
        valid_ids,
        [_iso(train["feature_month"].min()), _iso(train["feature_month"].max())],
        [_iso(valid["feature_month"].min()), _iso(valid["feature_month"].max())],
        config,
        train_end_date,
    )
    model.metrics["calibration"] = calibration
    numeric = valid[list(NUMERIC_FEATURES)].to_numpy(np.float64)
    model.metrics["reference"] = build_reference(lambda: [numeric], scores)
    return model


def fit_streamed(data: TrainingData, config: TrainingConfig, train_end_date: date) -> PulseModel:
    """fit_model on spilled data: the same split, categories, parameters and metrics, with
    neither the whole frame nor its model matrix in memory."""
    split = data.split(config.validation_months)
    train_labels = np.concatenate([c.labels for c in split.train])
    if len(np.unique(train_labels)) < 2:
        raise DataContractError("training window has a single label class; nothing to learn")
    categories = data.categories(split.train_months)
    params = config.lightgbm_params()
    dataset = data.dataset(split.train, categories, params)
    booster = lgb.train(params, dataset, num_boost_round=config.num_boost_round)
    del dataset  # LightGBM's binned copy of the training rows is no longer needed
    model = PulseModel(
        booster=booster,
        categories=categories,
        params={**params, "num_boost_round": config.num_boost_round},
    )
    margin, valid_labels = data.predictions(model, split.valid, raw=True)
    valid_ids = data.employee_ids(split.valid)
    model.calibrator, calibration = calibrate(margin, valid_labels, valid_ids)
    scores = model.calibrator.apply(margin)  # what predict_matrix gives, without a 2nd pass
    del margin
    model.metrics = _metrics(
        scores,
        train_labels,
        valid_labels,
        valid_ids,
        month_range(split.train_months),
        month_range(split.valid_months),
        config,
        train_end_date,
    )
    model.metrics["calibration"] = calibration
    model.metrics["reference"] = build_reference(
        lambda: (chunk.features()[:, 1:] for chunk in split.valid), scores
    )
    return model


def _metrics(
    valid_scores: np.ndarray,
    train_labels: np.ndarray,
    valid_labels: np.ndarray,
    valid_ids: np.ndarray,
    train_months: list[str],
    valid_months: list[str],
    config: TrainingConfig,
    train_end_date: date,
) -> dict:
    return {
        "auc": _auc(valid_labels, valid_scores),
        "precision_top5": precision_top(valid_scores, valid_labels, valid_ids, 0.05),
        "precision_top10": precision_top(valid_scores, valid_labels, valid_ids, 0.10),
        "n_train": len(train_labels),
        "n_valid": len(valid_labels),
        "positive_rate_train": float(train_labels.mean()),
        "positive_rate_valid": float(valid_labels.mean()),
        "train_months": train_months,
        "valid_months": valid_months,
        "train_end_date": train_end_date.isoformat(),
        "config": asdict(config),
    }


def precision_top(scores: np.ndarray, labels: np.ndarray, ids: np.ndarray, share: float) -> float:
    """Share of positives among the ceil(share * n) highest scores, ties broken by employee_id
    (the rule of the realized precision in model_performance_insert.sql)."""
    top = int(np.ceil(share * len(scores)))
    order = np.lexsort((ids, -np.asarray(scores)))  # score descending, then employee_id
    return float(np.asarray(labels)[order[:top]].mean()) if top else 0.0


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if len(np.unique(labels)) < 2:
        raise DataContractError("validation window has a single label class; AUC is undefined")
    return float(roc_auc_score(labels, scores))


def evaluate_on_validation(model: PulseModel, frame: pd.DataFrame, validation_months: int) -> float:
    """AUC of an existing model on the same validation months a candidate is judged on."""
    _, valid = split_by_time(frame, validation_months)
    return auc(model, valid)


def evaluate_streamed(model: PulseModel, data: TrainingData, validation_months: int) -> float:
    """evaluate_on_validation on spilled data, chunk by chunk."""
    scores, labels = data.predictions(model, data.split(validation_months).valid)
    return _auc(labels, scores)


def _iso(value: object) -> str:
    return pd.Timestamp(value).date().isoformat()
