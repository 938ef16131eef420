"""The model object that is trained, stored and used for scoring.

A PulseModel is a LightGBM booster plus what is needed to feed it the same way every time:
the feature columns in order and the department categories seen in training. It serialises to
one JSON document (the LightGBM text model inside), whose SHA-256 the registry records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from tasks.contract import CATEGORICAL_FEATURES, FEATURE_COLUMNS

FORMAT = "pulsewatch-lightgbm/1"


def model_matrix(frame: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """Feature columns in model order; categoricals with the training categories fixed
    (a department unseen in training becomes missing rather than a new code)."""
    matrix = frame.loc[:, list(FEATURE_COLUMNS)].copy()
    for column in CATEGORICAL_FEATURES:
        known = matrix[column].isin(categories[column])
        values = matrix[column].astype("object").where(known, None)
        matrix[column] = pd.Categorical(values, categories=categories[column])
    return matrix


def category_lookup(names: list[str], categories: list[str]) -> np.ndarray:
    """For each name, its index in a model's `categories` (NaN when unseen): the codes that
    model_matrix's pd.Categorical gives, for data held as codes into `names`."""
    index = {name: i for i, name in enumerate(categories)}
    return np.array([index.get(name, np.nan) for name in names], dtype=np.float64)


@dataclass
class PulseModel:
    booster: lgb.Booster
    categories: dict[str, list[str]]
    params: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    feature_columns: tuple[str, ...] = FEATURE_COLUMNS

    def predict(self, frame: pd.DataFrame, num_threads: int | None = None) -> np.ndarray:
        """Risk scores in [0, 1], one per row of `frame`; threads explicit (default: as trained),
        since LightGBM's default OpenMP threading was measured 100x slower on a busy machine."""
        if frame.empty:
            return np.empty(0)
        threads = num_threads or int(self.params.get("num_threads", 1))
        matrix = model_matrix(frame, self.categories)
        return np.asarray(self.booster.predict(matrix, num_threads=threads))

    def predict_matrix(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Risk scores of a numeric matrix in model order whose categorical columns already hold
        this model's category indexes (NaN for missing or unseen), as model_matrix encodes them."""
        if len(matrix) == 0:
            return np.empty(0)
        threads = num_threads or int(self.params.get("num_threads", 1))
        return np.asarray(self.booster.predict(matrix, num_threads=threads))

    def contributions(self, frame: pd.DataFrame, num_threads: int | None = None) -> np.ndarray:
        """LightGBM's `pred_contrib` (TreeSHAP) of each row: one column per feature in model
        order, then the bias; each row sums to the booster's raw score (log-odds). These explain
        the booster, whatever `predict` then makes of its raw score. About 150x the cost of
        `predict` per row: tasks/reasons.py calls it only for the rows that need it."""
        width = len(self.feature_columns) + 1
        if frame.empty:
            return np.empty((0, width))
        threads = num_threads or int(self.params.get("num_threads", 1))
        matrix = model_matrix(frame, self.categories)
        out = self.booster.predict(matrix, num_threads=threads, pred_contrib=True)
        return np.asarray(out).reshape(len(frame), width)

    def to_bytes(self) -> bytes:
        document = {
            "format": FORMAT,
            "feature_columns": list(self.feature_columns),
            "categories": self.categories,
            "params": self.params,
            "metrics": self.metrics,
            "booster": self.booster.model_to_string(),
        }
        return json.dumps(document, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, payload: bytes) -> PulseModel:
        document = json.loads(payload.decode("utf-8"))
        if document.get("format") != FORMAT:
            raise ValueError(f"unsupported model format {document.get('format')!r}")
        if tuple(document["feature_columns"]) != FEATURE_COLUMNS:
            raise ValueError("model was trained on a different feature set")
        return cls(
            booster=lgb.Booster(model_str=document["booster"]),
            categories=document["categories"],
            params=document["params"],
            metrics=document["metrics"],
        )
