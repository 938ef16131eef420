"""Scoring: stream the active population through the champion, chunk by chunk, into a local
Parquet file (and the reasons of the night's top risk share into a second one: tasks/reasons.py).
Memory is bounded by the chunk size, not the population; only aggregates of the scores (counts,
histogram, quantiles, how many got reasons) leave this module."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks import work_dir
from tasks.drift import DriftCounter
from tasks.errors import PulsewatchError
from tasks.model import PulseModel
from tasks.reasons import ReasonsCandidates, ReasonsFile

SCORES_SCHEMA = pa.schema(
    [
        ("score_date", pa.date32()),
        ("employee_id", pa.int64()),
        ("risk_score", pa.float64()),
        ("model_version", pa.string()),
        ("flow_run_id", pa.string()),
        ("scored_at", pa.timestamp("us")),
    ]
)
FINE_BINS = 1000  # histogram resolution used for quantiles (0.001 of risk)
HIGH_RISK = 0.5


@dataclass
class ScoreStats:
    """Running aggregates of risk scores: constant memory whatever the population."""

    rows: int = 0
    total: float = 0.0
    maximum: float = 0.0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(FINE_BINS, dtype=np.int64))

    def add(self, scores: np.ndarray) -> None:
        if len(scores) == 0:
            return
        self.rows += len(scores)
        self.total += float(scores.sum())
        self.maximum = max(self.maximum, float(scores.max()))
        bins = np.minimum((scores * FINE_BINS).astype(np.int64), FINE_BINS - 1)
        self.counts += np.bincount(bins, minlength=FINE_BINS)

    def quantile(self, q: float) -> float:
        """Upper edge of the histogram bin holding the q-quantile (within 0.001)."""
        cumulative = np.cumsum(self.counts)
        index = int(np.searchsorted(cumulative, q * self.rows, side="left"))
        return min(index + 1, FINE_BINS) / FINE_BINS

    def summary(self) -> dict:
        deciles = self.counts.reshape(10, -1).sum(axis=1)
        return {
            "rows": self.rows,
            "mean": self.total / self.rows if self.rows else 0.0,
            "p50": self.quantile(0.5),
            "p90": self.quantile(0.9),
            "p99": self.quantile(0.99),
            "max": self.maximum,
            "high_risk": int(self.counts[int(HIGH_RISK * FINE_BINS) :].sum()),
            "histogram": [int(c) for c in deciles],
        }


@dataclass(frozen=True)
class ScoreFile:
    """A scored night: the scores file, its aggregates and, with reasons, their explanation,
    which runs in a background thread from the last chunk on (see score_to_file)."""

    path: str
    score_date: date
    model_version: str
    stats: dict  # its "reasons" entry appears once the reasons are explained
    reasons: Future[ReasonsFile] | None = field(default=None, compare=False, repr=False)

    @property
    def rows(self) -> int:
        return int(self.stats["rows"])

    def explained(self) -> ReasonsFile | None:
        """The night's reasons file (score_reasons rows) once written: waits for it, and raises
        what stopped it. None: no reasons asked."""
        return None if self.reasons is None else self.reasons.result()


def score_to_file(
    frames: Iterable[pd.DataFrame],
    model: PulseModel,
    model_version: str,
    score_date: date,
    flow_run_id: str | None,
    path: Path,
    num_threads: int | None = None,
    reasons_top_share: float = 0.0,
    population: int | None = None,
) -> ScoreFile:
    """Predict each frame and append it to a Parquet file; return where and aggregates. The
    file is private (0600) and removed if anything fails; a full disk is one line.

    With `reasons_top_share` > 0, the reasons of the night's top share go to a second private
    file (tasks/reasons.py); `population` is then the number of rows `frames` will yield (it
    bounds the candidates while they stream). The reasons are explained in a background thread
    started once the last chunk is scored, and this returns without waiting for them:
    tasks/results.py loads condition_scores meanwhile and waits only before score_reasons
    (`ScoreFile.explained`). TreeSHAP is numpy in this process; the load is mostly the
    warehouse's own work, so the two share the machine's cores instead of taking turns (on
    1M employees the explanation took 2-4 s and the 1M-row load 8-11 s; one after the other
    12.3-14.1 s, side by side 10.2-11.6 s)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    candidates = None
    if reasons_top_share > 0:
        if population is None:
            raise ValueError("reasons need the population counted before scoring")
        reasons_path = path.with_name(path.name.replace(".parquet", "-reasons.parquet"))
        candidates = ReasonsCandidates(
            reasons_top_share, population, reasons_path, model.feature_columns
        )
        candidates.prepare(model)
    scored_at = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    stats = ScoreStats()
    # Drift is counted here, from the chunks scoring streams anyway, rather than binned in SQL
    # by a second pass over the population: numpy bin counts cost milliseconds per chunk, and
    # the bins come with the model in memory (tasks/drift.py).
    drift = DriftCounter.for_metrics(model.metrics)
    try:
        with (
            work_dir.removed_on_failure(path),
            work_dir.create_private(path) as handle,
            pq.ParquetWriter(handle, SCORES_SCHEMA) as writer,
        ):
            _score_chunks(
                frames,
                model,
                score_date,
                model_version,
                flow_run_id,
                num_threads,
                scored_at,
                writer,
                stats,
                drift,
                candidates,
            )
            if candidates is not None:
                candidates.check_population()
    except BaseException:
        if candidates is not None:
            candidates.discard()
        raise
    if stats.rows == 0:
        if candidates is not None:
            candidates.discard()
        path.unlink(missing_ok=True)
        raise PulsewatchError(f"no active employees on {score_date}: nothing to score")
    summary = stats.summary()
    summary["psi"] = drift.psi() if drift is not None else None  # aggregates: one per feature
    summary["importance"] = model.gain_importance()  # what the health rules watch (tasks/health.py)
    reasons = None
    if candidates is not None:
        explaining = candidates

        def explain() -> ReasonsFile:
            explained = explaining.finish(
                model, score_date, model_version, flow_run_id, num_threads
            )
            summary["reasons"] = explained.stats  # before any waiter sees the result
            return explained

        pool = ThreadPoolExecutor(1, thread_name_prefix="explain-reasons")
        reasons = pool.submit(explain)
        pool.shutdown(wait=False)  # the thread ends with the job
    return ScoreFile(str(path), score_date, model_version, summary, reasons)


def _score_chunks(
    frames: Iterable[pd.DataFrame],
    model: PulseModel,
    score_date: date,
    model_version: str,
    flow_run_id: str | None,
    num_threads: int | None,
    scored_at: pd.Timestamp,
    writer: pq.ParquetWriter,
    stats: ScoreStats,
    drift: DriftCounter | None,
    candidates: ReasonsCandidates | None,
) -> None:
    for frame in frames:
        risk, margin = model.predict_with_margin(frame, num_threads)
        stats.add(risk)
        if candidates is not None:
            candidates.add(frame, risk, margin)
        if drift is not None:
            drift.add(frame, risk)
        n = len(risk)
        # built as Arrow directly: a pandas frame converted per chunk cost 0.17 s per 1M
        # rows, this 0.01 s
        columns = [
            pa.repeat(pa.scalar(score_date, pa.date32()), n),
            pa.array(frame["employee_id"].to_numpy(), pa.int64()),
            pa.array(risk, pa.float64()),
            pa.repeat(pa.scalar(model_version, pa.string()), n),
            pa.repeat(pa.scalar(flow_run_id, pa.string()), n),
            pa.repeat(pa.scalar(scored_at, pa.timestamp("us")), n),
        ]
        writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=SCORES_SCHEMA))
