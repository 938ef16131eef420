"""Reasons: for each employee in the night's top risk share, the three features that raised the
score most (LightGBM `pred_contrib`: TreeSHAP contributions in log-odds), written to
score_reasons in the same transaction as condition_scores (tasks/results.py).

Which employees: with N the night's population and k = ceil(top_share x N), everyone whose risk
is at or above the k-th largest risk of the night (`threshold`). Ties at the threshold are all
included, so a night may give reasons to more than k employees; top_share 0 gives none. Only
positive contributions "raise" a score: an employee with fewer than three gets fewer rows.
Ties between contributions rank the feature that comes first in the model's columns first.

How, with memory bounded by the chunk (and CONTRIB_ROWS selected rows) and one pass over the
population:
- The night's N is counted before the chunks stream (feature_store.count_scoring_rows), so a
  conservative bound can be kept while they do: the lower edge of the fine risk-histogram bin
  that holds the k-th largest risk seen so far. The k-th largest of the rows seen so far is
  never above the k-th largest of the whole night, so a row of the final selection is never
  below the bound when its chunk passes.
- Rows at or above the bound are spilled (employee id, risk, the booster's raw score, the model's
  feature columns) to a private work file (0600, removed on failure and once read). Nothing else
  is kept per row.
- After the last chunk, the exact threshold is the k-th largest risk of the spilled rows, and
  TreeSHAP runs only for the rows at or above it, up to CONTRIB_ROWS at a time. It is the
  expensive step (row by row ~130x `predict`; per tree, leaf and branch pattern, tasks/tree_shap.py,
  about 5x `predict`, less the more rows a call holds): deferring it to the end means it never
  runs on a row that a later chunk pushes out of the top share (computing it per chunk above the
  running bound would have spent it on the first k rows of every night, and on every row later
  dropped).
- If more rows streamed than were counted (employees added mid-run), the bound may not have
  been conservative; the run then stops with one line rather than write an incomplete top share.
Only aggregates leave this module's caller: how many employees got reasons and how often each
feature is the first reason.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks import work_dir
from tasks.contract import CATEGORICAL_FEATURES
from tasks.errors import PulsewatchError
from tasks.model import PulseModel

REASONS_PER_EMPLOYEE = 3
FINE_BINS = 1000  # resolution of the running bound (risk in [0, 1])
CONTRIB_ROWS = 200_000  # selected rows explained per call (more rows share more branch patterns)
SPILL_BATCH = 50_000  # spilled rows read at a time
REASONS_SCHEMA = pa.schema(
    [
        ("score_date", pa.date32()),
        ("employee_id", pa.int64()),
        ("rank", pa.int32()),
        ("feature", pa.string()),
        ("value", pa.string()),
        ("contribution", pa.float64()),
        ("model_version", pa.string()),
        ("flow_run_id", pa.string()),
    ]
)


def top_count(share: float, population: int) -> int:
    """k = ceil(share x population), robust to float noise (0.1 x 1000 is 100, not 101)."""
    return min(population, math.ceil(round(share * population, 9)))


def kth_largest(values: np.ndarray, k: int) -> float:
    """The k-th largest value (k >= 1, k <= len(values))."""
    return float(np.partition(values, len(values) - k)[len(values) - k])


def select_top(risk: np.ndarray, share: float) -> np.ndarray:
    """Mask of the rows that get reasons among `risk` (the whole night): risk >= the k-th
    largest, k = ceil(share x N). The reference the streamed selection must equal."""
    k = top_count(share, len(risk))
    if k == 0:
        return np.zeros(len(risk), dtype=bool)
    return risk >= kth_largest(risk, k)


def top_reasons(contributions: np.ndarray, top: int = REASONS_PER_EMPLOYEE) -> np.ndarray:
    """Per row, the column indexes of the `top` largest positive contributions, largest first
    (-1 where fewer are positive). `contributions` holds the features only (no bias column).
    Equal contributions: the lower column index first (a stable sort)."""
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top]
    chosen = np.take_along_axis(contributions, order, axis=1)
    return np.where(chosen > 0, order, -1)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)):
        return format(float(value) + 0.0, ".6g")  # + 0.0: -0.0 reads "0", as 0.0 does
    return str(value)


def reasons_table(
    frame: pd.DataFrame,
    contributions: np.ndarray,
    feature_columns: tuple[str, ...],
    score_date: date,
    model_version: str,
    flow_run_id: str | None,
) -> pa.Table:
    """score_reasons rows of `frame`'s employees (its rows aligned with `contributions`, the
    features' columns without the bias)."""
    reasons = top_reasons(contributions)
    rows, ranks = np.nonzero(reasons >= 0)
    columns = reasons[rows, ranks]
    names = np.array(feature_columns, dtype=object)
    values = np.full(len(rows), None, dtype=object)
    for column in np.unique(columns):  # per column, each distinct value formatted once
        at = np.flatnonzero(columns == column)
        codes, distinct = pd.factorize(frame[feature_columns[column]].to_numpy()[rows[at]])
        texts = np.array([_text(value) for value in distinct] + [None], dtype=object)
        values[at] = texts[codes]  # code -1 (missing) is the None at the end
    n = len(rows)
    arrays = [
        pa.repeat(pa.scalar(score_date, pa.date32()), n),
        pa.array(frame["employee_id"].to_numpy()[rows], pa.int64()),
        pa.array(ranks + 1, pa.int32()),
        pa.array(names[columns], pa.string()),
        pa.array(values.tolist(), pa.string()),
        pa.array(contributions[rows, columns], pa.float64()),
        pa.repeat(pa.scalar(model_version, pa.string()), n),
        pa.repeat(pa.scalar(flow_run_id, pa.string()), n),
    ]
    return pa.Table.from_arrays(arrays, schema=REASONS_SCHEMA)


@dataclass(frozen=True)
class ReasonsFile:
    """Where the night's reasons wait for the load, and their aggregates."""

    path: str | None
    rows: int
    stats: dict


@dataclass
class ReasonsSpill:
    """Fed each scored chunk; spills the candidates above a conservative bound, then writes the
    reasons of the exact top share (module docstring)."""

    top_share: float
    population: int
    path: Path  # the spill of candidates; the reasons go next to it
    feature_columns: tuple[str, ...]
    counts: np.ndarray = field(default_factory=lambda: np.zeros(FINE_BINS, dtype=np.int64))
    seen: int = 0
    spilled: int = 0
    bound: float = 0.0
    _writer: pq.ParquetWriter | None = None
    _handle: Any = None

    def __post_init__(self) -> None:
        self.k = top_count(self.top_share, self.population)
        fields = [("employee_id", pa.int64()), ("risk", pa.float64()), ("margin", pa.float64())]
        for column in self.feature_columns:
            kind = pa.string() if column in CATEGORICAL_FEATURES else pa.float64()
            fields.append((column, kind))
        self.schema = pa.schema(fields)

    @property
    def reasons_path(self) -> Path:
        return self.path.with_name(self.path.name.replace("-candidates", "-reasons"))

    def add(self, frame: pd.DataFrame, risk: np.ndarray, margin: np.ndarray | None = None) -> None:
        """Count the chunk's risks, then spill its rows at or above the running bound, with the
        booster's raw score (`margin`, if known: TreeSHAP's check compares its sums with it)."""
        if len(risk) == 0 or self.k == 0:
            return
        bins = np.minimum((risk * FINE_BINS).astype(np.int64), FINE_BINS - 1)
        self.counts += np.bincount(bins, minlength=FINE_BINS)
        self.seen += len(risk)
        if self.seen >= self.k:  # the bin holding the k-th largest risk seen so far
            from_top = np.cumsum(self.counts[::-1])
            index = FINE_BINS - 1 - int(np.searchsorted(from_top, self.k, side="left"))
            self.bound = max(self.bound, index / FINE_BINS)
        keep = risk >= self.bound
        if not keep.any():
            return
        margins = np.full(len(risk), np.nan) if margin is None else margin  # NaN: not known
        arrays = [
            pa.array(frame["employee_id"].to_numpy()[keep], pa.int64()),
            pa.array(risk[keep], pa.float64()),
            pa.array(margins[keep], pa.float64()),
        ]
        for column, kind in zip(self.feature_columns, self.schema.types[3:], strict=True):
            values = frame[column].to_numpy()[keep]
            if kind == pa.string():
                values = pd.Series(values, dtype="object").where(pd.notna(values), None)
            arrays.append(pa.array(values, kind, from_pandas=True))
        if self._writer is None:
            self._handle = work_dir.create_private(self.path)
            self._writer = pq.ParquetWriter(self._handle, self.schema)
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.spilled += int(keep.sum())

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._handle.close()
            self._writer = self._handle = None

    def discard(self) -> None:
        """Remove the spill and the reasons file. Called while another error propagates, so it
        never raises: closing the writer flushes, which fails again on a full disk."""
        try:
            self.close()
        except OSError:
            handle, self._writer, self._handle = self._handle, None, None
            with contextlib.suppress(OSError):  # the file is removed below either way
                handle.close()
        self.path.unlink(missing_ok=True)
        self.reasons_path.unlink(missing_ok=True)

    def finish(
        self,
        model: PulseModel,
        score_date: date,
        model_version: str,
        flow_run_id: str | None,
        num_threads: int | None = None,
    ) -> ReasonsFile:
        """The exact threshold from the spilled risks, pred_contrib of the rows at or above it
        into the reasons file (private), the spill removed. Returns the file and aggregates."""
        self.close()
        try:
            return self._finish(model, score_date, model_version, flow_run_id, num_threads)
        except BaseException:
            self.reasons_path.unlink(missing_ok=True)
            raise
        finally:
            self.path.unlink(missing_ok=True)

    def _finish(
        self,
        model: PulseModel,
        score_date: date,
        model_version: str,
        flow_run_id: str | None,
        num_threads: int | None,
    ) -> ReasonsFile:
        k = top_count(self.top_share, self.seen)
        stats: dict[str, Any] = {"top_share": self.top_share, "employees": 0, "first_reason": {}}
        if k == 0 or self.spilled == 0:
            return ReasonsFile(None, 0, stats)
        if self.seen > self.population:
            raise PulsewatchError(
                f"the population grew while it was scored ({self.population:,} counted, "
                f"{self.seen:,} scored): reasons cannot be chosen exactly; run the date again"
            )
        spill = pq.ParquetFile(self.path)
        risks = spill.read(columns=["risk"]).column("risk").to_numpy()
        threshold = kth_largest(risks, k)
        del risks
        first: Counter[str] = Counter()
        selected = rows = groups = 0
        methods: set[str] = set()
        with (
            work_dir.removed_on_failure(self.reasons_path),
            work_dir.create_private(self.reasons_path) as handle,
            pq.ParquetWriter(handle, REASONS_SCHEMA) as writer,
        ):
            for frame in _selected_frames(spill, threshold):
                explained = model.contributions(frame, num_threads, frame["margin"].to_numpy())
                table = reasons_table(
                    frame,
                    explained.values[:, :-1],
                    model.feature_columns,
                    score_date,
                    model_version,
                    flow_run_id,
                )
                writer.write_table(table)
                rows += table.num_rows
                selected += len(frame)
                groups += explained.groups
                methods.add(explained.method)
                ranks = table.column("rank").to_numpy()
                first.update(np.asarray(table.column("feature"))[ranks == 1].tolist())
        stats.update(
            employees=sum(first.values()),  # with at least one reason (one first reason each)
            selected=selected,
            rows=rows,
            threshold=threshold,
            spilled=self.spilled,
            contributions=" + ".join(sorted(methods)),  # "grouped", or why it fell back
            tree_patterns=groups,  # (tree, branch pattern) pairs TreeSHAP ran on
            first_reason=dict(first.most_common()),
        )
        return ReasonsFile(str(self.reasons_path), rows, stats)


def _selected_frames(spill: pq.ParquetFile, threshold: float) -> Iterator[pd.DataFrame]:
    """The spilled rows at or above `threshold`, in frames of up to about CONTRIB_ROWS rows."""
    pending: list[pd.DataFrame] = []
    count = 0
    for batch in spill.iter_batches(batch_size=SPILL_BATCH):
        frame = batch.to_pandas()
        frame = frame.loc[frame["risk"].to_numpy() >= threshold]
        if frame.empty:
            continue
        pending.append(frame)
        count += len(frame)
        if count >= CONTRIB_ROWS:
            yield pd.concat(pending, ignore_index=True)
            pending, count = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)
