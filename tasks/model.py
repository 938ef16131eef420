"""The model object that is trained, stored and used for scoring.

A PulseModel is a LightGBM booster plus what is needed to feed it the same way every time:
the feature columns in order and the department categories seen in training. It serialises to
one JSON document (the LightGBM text model inside), whose SHA-256 the registry records.

Format 2 adds the calibrator (tasks/calibration.py: raw margin -> probability, plain numbers);
a model without one is written as, and read from, format 1 and scores as LightGBM's own
sigmoid, exactly as before calibration existed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from tasks.calibration import Calibrator
from tasks.contract import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from tasks.tree_shap import Contributions, Tree, parse_dump, row_by_row, tree_shap

FORMAT_UNCALIBRATED = "pulsewatch-lightgbm/1"
FORMAT = "pulsewatch-lightgbm/2"
# Below this many rows LightGBM's own pred_contrib of every row costs less than the grouping
# (tasks/tree_shap.py: numpy steps per tree, plus parsing the trees once, 0.12 s): measured on a
# 200-tree model of 30k demo employees, grouped vs row by row, CPU s: 50 rows 0.34 vs 0.07,
# 200 rows 0.36 vs 0.26, 500 rows 0.39 vs 0.65, 1,000 rows 0.53 vs 1.21. Measured before
# tree_shap packed its bits into bytes, which did not make small calls slower; the crossover may
# now be lower. A small company's whole top decile is a few dozen rows.
ROW_BY_ROW_BELOW = 250


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
    calibrator: Calibrator | None = None  # None: a model stored before calibration
    _trees: list[Tree] | None = field(default=None, init=False, repr=False, compare=False)

    def predict(self, frame: pd.DataFrame, num_threads: int | None = None) -> np.ndarray:
        """Calibrated risk in [0, 1], one per row of `frame`; threads explicit (default: as
        trained), since LightGBM's default OpenMP threading was measured 100x slower on a busy
        machine."""
        if frame.empty:
            return np.empty(0)
        return self._risk(model_matrix(frame, self.categories), num_threads)

    def predict_matrix(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Calibrated risk of a numeric matrix in model order whose categorical columns already
        hold this model's category indexes (NaN for missing or unseen), as model_matrix encodes
        them."""
        if len(matrix) == 0:
            return np.empty(0)
        return self._risk(matrix, num_threads)

    def predict_with_margin(
        self, frame: pd.DataFrame, num_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(predict(frame), margin(frame)) from one pass of the booster; the margin is None
        for a model stored before calibration (its risk is LightGBM's own sigmoid)."""
        if frame.empty:
            return np.empty(0), np.empty(0)
        matrix = model_matrix(frame, self.categories)
        if self.calibrator is None:
            return self._risk(matrix, num_threads), None
        margin = self.margin_matrix(matrix, num_threads)
        return self.calibrator.apply(margin), margin

    def margin(self, frame: pd.DataFrame, num_threads: int | None = None) -> np.ndarray:
        """The booster's raw log-odds of `frame` (what the calibrator maps to a probability)."""
        if frame.empty:
            return np.empty(0)
        return self.margin_matrix(model_matrix(frame, self.categories), num_threads)

    def margin_matrix(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """margin() of a matrix encoded as for predict_matrix."""
        if len(matrix) == 0:
            return np.empty(0)
        threads = self._threads(num_threads)
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=threads))

    def _risk(self, matrix: Any, num_threads: int | None) -> np.ndarray:
        threads = self._threads(num_threads)
        if self.calibrator is None:
            return np.asarray(self.booster.predict(matrix, num_threads=threads))
        margin = self.booster.predict(matrix, raw_score=True, num_threads=threads)
        return self.calibrator.apply(np.asarray(margin))

    def _threads(self, num_threads: int | None) -> int:
        return num_threads or int(self.params.get("num_threads", 1))

    def gain_importance(self) -> dict[str, float]:
        """Total gain of each feature over the model's trees (LightGBM's gain importance)."""
        gains = self.booster.feature_importance(importance_type="gain")
        return {n: float(g) for n, g in zip(self.booster.feature_name(), gains, strict=True)}

    def contributions(
        self,
        frame: pd.DataFrame,
        num_threads: int | None = None,
        margin: np.ndarray | None = None,
    ) -> Contributions:
        """LightGBM's `pred_contrib` (TreeSHAP) of each row: one column per feature in model
        order, then the bias; each row sums to the booster's raw score (log-odds). These explain
        the booster, whatever `predict` then makes of its raw score. From ROW_BY_ROW_BELOW rows
        on, computed per tree, leaf and branch pattern (tasks/tree_shap.py), checked against
        pred_contrib on every call; fewer rows are pred_contrib's own. Still costlier than
        `predict`: tasks/reasons.py calls it only for the rows that need it. `margin`: the
        booster's raw score of these rows if already known (the check compares the sums with it
        instead of predicting again)."""
        width = len(self.feature_columns) + 1
        if frame.empty:
            return Contributions(np.empty((0, width)), "grouped", 0)
        matrix = model_matrix(frame, self.categories)
        if len(matrix) < ROW_BY_ROW_BELOW:
            small = f"under {ROW_BY_ROW_BELOW} rows"
            return row_by_row(self.booster, matrix, self._threads(num_threads), small, 0)
        return tree_shap(
            self.booster, matrix, self._threads(num_threads), self._tree_list(), margin
        )

    def prepare_contributions(self) -> threading.Thread | None:
        """Start parsing the trees `contributions` needs in a background thread, and return it
        (None if already parsed); join it before calling `contributions`. Scoring starts it before
        its chunks stream: the parse is pure Python (0.2-1 s for 200 trees of 31 leaves), and
        while the chunks stream this process mostly waits on the warehouse or on LightGBM's own
        threads, so it costs the night no wall time. The booster is dumped here, in the caller's
        thread; the thread only reads the dump (no booster call runs beside the predictions)."""
        if self._trees is not None:
            return None
        dump = self.booster.dump_model()

        def parse() -> None:
            self._trees = parse_dump(dump)  # on an error, _tree_list parses again and raises

        thread = threading.Thread(target=parse, name="parse-trees", daemon=True)
        thread.start()
        return thread

    def _tree_list(self) -> list[Tree]:
        if self._trees is None:
            self._trees = parse_dump(self.booster.dump_model())
        return self._trees

    def to_bytes(self) -> bytes:
        document = {
            "format": FORMAT if self.calibrator is not None else FORMAT_UNCALIBRATED,
            "feature_columns": list(self.feature_columns),
            "categories": self.categories,
            "params": self.params,
            "metrics": self.metrics,
            "booster": self.booster.model_to_string(),
        }
        if self.calibrator is not None:
            document["calibrator"] = self.calibrator.to_dict()
        return json.dumps(document, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, payload: bytes) -> PulseModel:
        document = json.loads(payload.decode("utf-8"))
        model_format = document.get("format")
        if model_format not in (FORMAT, FORMAT_UNCALIBRATED):
            raise ValueError(f"unsupported model format {model_format!r}")
        if tuple(document["feature_columns"]) != FEATURE_COLUMNS:
            raise ValueError("model was trained on a different feature set")
        calibrator = None
        if model_format == FORMAT:
            if "calibrator" not in document:
                raise ValueError(f"model format {FORMAT!r} without its calibrator")
            calibrator = Calibrator.from_dict(document["calibrator"])
        return cls(
            booster=lgb.Booster(model_str=document["booster"]),
            categories=document["categories"],
            params=document["params"],
            metrics=document["metrics"],
            calibrator=calibrator,
        )
