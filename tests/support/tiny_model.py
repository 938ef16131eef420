"""A tiny real LightGBM model whose reasons are known by construction, and frames to score."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from tasks.contract import FEATURE_COLUMNS, NUMERIC_FEATURES
from tasks.model import PulseModel, model_matrix

DEPARTMENTS = ["Sales", "Ops", "R&D"]


def frame(n: int, seed: int = 0, first_id: int = 1) -> pd.DataFrame:
    """Feature rows in the contract's ranges (some missing values), with employee ids."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {"employee_id": np.arange(first_id, first_id + n, dtype=np.int64)}
    data["department"] = rng.choice(DEPARTMENTS, n).astype(object)
    for name, (low, high) in NUMERIC_FEATURES.items():
        values = rng.uniform(low, min(high, 40), n).round(2)
        values[rng.random(n) < 0.03] = np.nan
        data[name] = values
    return pd.DataFrame(data)


def tiny_model(seed: int = 0) -> PulseModel:
    """Risk rises with low health_score (strongly) and in department Ops (weakly); nothing else
    matters."""
    train = frame(4000, seed)
    rng = np.random.default_rng(seed + 1)
    logit = (
        3.0 * (train["health_score"].fillna(5) < 3)
        + 1.0 * (train["department"] == "Ops")
        - 2.0
        + rng.normal(0, 0.3, len(train))
    )
    label = (rng.random(len(train)) < 1 / (1 + np.exp(-logit))).astype(int)
    categories = {"department": DEPARTMENTS}
    params = {"objective": "binary", "num_leaves": 7, "verbosity": -1, "num_threads": 1}
    params |= {"seed": seed, "deterministic": True, "min_data_in_leaf": 20}
    data = lgb.Dataset(model_matrix(train, categories), label, categorical_feature=["department"])
    booster = lgb.train(params, data, num_boost_round=30)
    return PulseModel(booster, categories, params, feature_columns=FEATURE_COLUMNS)
