"""Population drift: a model's reference distribution and the PSI of a night's population.

A model stores, with its metrics (PulseModel.metrics["reference"]), the distribution of each
numeric feature and of its risk score over its validation months: bin edges (deciles, ties
merged) and the share of rows in each bin, plus a last bin for missing values (new hires have
no survey features). Scoring counts tonight's rows into the same bins chunk by chunk
(DriftCounter, constant memory), and the population stability index of each is

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

with shares floored at PSI_FLOOR so an empty bin does not give an infinite index. Usual reading:
below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a major one.

Hand-written because the index is three lines of numpy; the libraries that compute it (e.g.
evidently, nannyml) bring their own data frames and reports, and would need the whole
population in memory rather than the per-chunk counts the scoring step already streams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from math import ceil
from typing import Any

import numpy as np
import pandas as pd

from tasks.contract import NUMERIC_FEATURES

RISK_SCORE = "risk_score"  # the drift row of the model's own output
QUANTILES = np.linspace(0.1, 0.9, 9)  # decile edges: at most 10 bins (+ missing)
SAMPLE_ROWS = 200_000  # edges come from at most this many validation rows
PSI_FLOOR = 1e-4


def edges_of(values: np.ndarray) -> list[float]:
    """Decile edges of the non-missing values, taken from the values themselves (so a
    discrete feature is cut between its values) and merged where tied."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return []
    return [float(e) for e in np.unique(np.quantile(present, QUANTILES, method="inverted_cdf"))]


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts per bin: (-inf, e0], (e0, e1], ..., (e_last, inf), then missing."""
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="left")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return np.append(counts, int(missing.sum())).astype(np.int64)


def psi(expected_shares: list[float] | np.ndarray, actual_counts: list[int] | np.ndarray) -> float:
    """Population stability index of actual counts against expected shares (same bins)."""
    expected = np.maximum(np.asarray(expected_shares, dtype=np.float64), PSI_FLOOR)
    counts = np.asarray(actual_counts, dtype=np.float64)
    actual = np.maximum(counts / max(counts.sum(), 1.0), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def build_reference(
    matrices: Callable[[], Iterable[np.ndarray]], scores: np.ndarray
) -> dict[str, dict[str, list[float]]]:
    """Reference bins of each numeric feature and of the risk score.

    `matrices` yields the validation rows' numeric features (columns in NUMERIC_FEATURES order)
    batch by batch and is called twice: once for a strided sample (at most SAMPLE_ROWS rows)
    that fixes the edges, once to count every row into them. `scores`: the model's validation
    predictions (in memory already)."""
    rows = len(scores)
    stride = max(1, ceil(rows / SAMPLE_ROWS))
    sample, seen = [], 0
    for matrix in matrices():
        first = (-seen) % stride  # global row index of the sample is a multiple of stride
        sample.append(matrix[first::stride])
        seen += len(matrix)
    sampled = np.concatenate(sample) if sample else np.empty((0, len(NUMERIC_FEATURES)))
    edges = {name: edges_of(sampled[:, i]) for i, name in enumerate(NUMERIC_FEATURES)}
    counts = {name: np.zeros(len(e) + 2, dtype=np.int64) for name, e in edges.items()}
    for matrix in matrices():
        for i, name in enumerate(NUMERIC_FEATURES):
            counts[name] += bin_counts(matrix[:, i], edges[name])
    edges[RISK_SCORE] = edges_of(scores)
    counts[RISK_SCORE] = bin_counts(scores, edges[RISK_SCORE])
    return {name: {"edges": edges[name], "shares": _shares(counts[name])} for name in edges}


def _shares(counts: np.ndarray) -> list[float]:
    total = max(int(counts.sum()), 1)
    return [float(c) / total for c in counts]


class DriftCounter:
    """Tonight's bin counts against a model's reference, accumulated chunk by chunk while
    scoring streams the population (so drift costs no second pass over it)."""

    def __init__(self, reference: dict[str, Any]) -> None:
        self.reference = reference
        self.counts = {
            name: np.zeros(len(ref["edges"]) + 2, dtype=np.int64) for name, ref in reference.items()
        }

    @classmethod
    def for_metrics(cls, metrics: dict[str, Any]) -> DriftCounter | None:
        """None for a model stored before references existed (retrain to get drift)."""
        reference = metrics.get("reference")
        return cls(reference) if reference else None

    def add(self, frame: pd.DataFrame, risk: np.ndarray) -> None:
        for name, ref in self.reference.items():
            values = risk if name == RISK_SCORE else frame[name].to_numpy(np.float64)
            self.counts[name] += bin_counts(np.asarray(values, dtype=np.float64), ref["edges"])

    def psi(self) -> dict[str, float]:
        """PSI of each feature (and the risk score) of the rows added so far."""
        return {name: psi(self.reference[name]["shares"], c) for name, c in self.counts.items()}
