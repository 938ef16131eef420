"""Reasons: for each employee in the night's top risk share, the three features that raised the
score most (LightGBM `pred_contrib`: TreeSHAP contributions in log-odds), written to
score_reasons in the same transaction as condition_scores (tasks/results.py).

Which employees: with N the night's population and k = ceil(top_share x N), everyone whose risk
is at or above the k-th largest risk of the night (`threshold`). Ties at the threshold are all
included, so a night may give reasons to more than k employees; top_share 0 gives none. Only
positive contributions "raise" a score: an employee with fewer than three gets fewer rows.
Ties between contributions rank the feature that comes first in the model's columns first.

How, in one pass over the population, with memory bounded by the top share (not the population):
- The night's N is counted before the chunks stream (feature_store.count_scoring_rows), so k is
  known while they do.
- The candidates are kept in memory: each chunk's rows at or above the running bound (employee
  id, risk, the booster's raw score, the model's feature columns). Once they hold k + max(k/4,
  PRUNE_ROWS) rows, the bound becomes the k-th largest risk among them and the rows below it are
  dropped. The k-th largest of the rows seen so far is never above the k-th largest of the whole
  night, so no row of the final selection is ever dropped, and the candidates never hold much
  more than the top share (a quarter more, plus ties and one chunk).
  (They were spilled to a private Parquet file before, bounded by a fine risk histogram: writing
  and reading back the ~295k candidates of a 1M-employee night cost about 1 s of a scoring night
  that reasons may lengthen by a quarter at most; held in memory they are about (3 +
  features) x 8 bytes a row, ~40 MB at that size, and no row data waits on disk.)
- After the last chunk, the exact threshold is the k-th largest risk of the candidates, and
  TreeSHAP runs only for the rows at or above it, up to CONTRIB_ROWS at a time, in a background
  thread while condition_scores loads (tasks/scoring.py, tasks/results.py). It is the
  expensive step (row by row ~130x `predict`; per tree, leaf and branch pattern, tasks/tree_shap.py,
  about 5x `predict`, less the more rows a call holds): deferring it to the end means it never
  runs on a row that a later chunk pushes out of the top share.
- If more rows streamed than were counted (employees added mid-run), the bound may not have
  been conservative; the run then stops with one line rather than write an incomplete top share.
Only aggregates leave this module's caller: how many employees got reasons and how often each
feature is the first reason.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks import work_dir
from tasks.errors import PulsewatchError
from tasks.model import PulseModel

REASONS_PER_EMPLOYEE = 3
CONTRIB_ROWS = 200_000  # selected rows explained per call (more rows share more branch patterns)
PRUNE_ROWS = 20_000  # candidates are pruned once they hold k + max(k / 4, this) rows
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
class ReasonsCandidates:
    """Fed each scored chunk; keeps the candidates of the top share in memory, pruned as the
    bound rises, then writes the reasons of the exact top share (module docstring)."""

    top_share: float
    population: int
    reasons_path: Path  # the private file the reasons are written to
    feature_columns: tuple[str, ...]
    seen: int = 0
    kept: int = 0  # rows ever taken as candidates (the aggregate "candidates")
    bound: float = 0.0
    _pieces: list[pd.DataFrame] = field(default_factory=list)
    _held: int = 0
    _parsing: threading.Thread | None = None  # the model's trees, parsed while the chunks stream

    def __post_init__(self) -> None:
        self.k = top_count(self.top_share, self.population)
        self.columns = ["employee_id", *self.feature_columns]

    def prepare(self, model: PulseModel) -> None:
        """Before the first chunk: let the model parse its trees meanwhile (model.py)."""
        if self.k > 0:
            self._parsing = model.prepare_contributions()

    def _parsed(self) -> None:
        if self._parsing is not None:
            self._parsing.join()
            self._parsing = None

    def add(self, frame: pd.DataFrame, risk: np.ndarray, margin: np.ndarray | None = None) -> None:
        """Keep the chunk's rows at or above the bound, with their risk and the booster's raw
        score (`margin`, if known: TreeSHAP's check compares its sums with it)."""
        if len(risk) == 0 or self.k == 0:
            return
        self.seen += len(risk)
        keep = risk >= self.bound
        if not keep.any():
            return
        piece = frame.loc[keep, self.columns].reset_index(drop=True)
        piece["risk"] = risk[keep]
        piece["margin"] = np.nan if margin is None else margin[keep]  # NaN: not known
        self._pieces.append(piece)
        self._held += len(piece)
        self.kept += len(piece)
        if self._held >= self.k + max(self.k // 4, PRUNE_ROWS):
            self._prune()

    def _prune(self) -> None:
        """Raise the bound to the k-th largest risk held (all rows seen at or above the old
        bound are held, so it is the k-th largest seen) and drop the rows below it."""
        held = pd.concat(self._pieces, ignore_index=True)
        risk = held["risk"].to_numpy()
        if len(held) >= self.k:
            self.bound = max(self.bound, kth_largest(risk, self.k))
        held = held.loc[risk >= self.bound].reset_index(drop=True)
        self._pieces, self._held = [held], len(held)

    def candidates(self) -> pd.DataFrame:
        """The rows held now (at or above the bound)."""
        if not self._pieces:
            return pd.DataFrame(columns=[*self.columns, "risk", "margin"])
        self._prune()
        return self._pieces[0]

    def check_population(self) -> None:
        """Refuse a night whose population grew while it streamed: the bound, computed from the
        count, may then have dropped a row of the top share."""
        if self.seen > self.population:
            raise PulsewatchError(
                f"the population grew while it was scored ({self.population:,} counted, "
                f"{self.seen:,} scored): reasons cannot be chosen exactly; run the date again"
            )

    def discard(self) -> None:
        """Drop the candidates and remove the reasons file (called while another error
        propagates: never raises)."""
        self._parsed()
        self._pieces, self._held = [], 0
        self.reasons_path.unlink(missing_ok=True)

    def finish(
        self,
        model: PulseModel,
        score_date: date,
        model_version: str,
        flow_run_id: str | None,
        num_threads: int | None = None,
    ) -> ReasonsFile:
        """The exact threshold from the candidates, TreeSHAP of the rows at or above it into the
        reasons file (private), the candidates dropped. Returns the file and aggregates."""
        self._parsed()
        try:
            return self._finish(model, score_date, model_version, flow_run_id, num_threads)
        except BaseException:
            self.reasons_path.unlink(missing_ok=True)
            raise
        finally:
            self._pieces, self._held = [], 0

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
        if k == 0 or self.kept == 0:
            return ReasonsFile(None, 0, stats)
        self.check_population()
        held = self.candidates()
        risk = held["risk"].to_numpy()
        threshold = kth_largest(risk, k)
        # In employee order: score_reasons' rows then reach its primary key (score_date,
        # employee_id, rank) in key order, which PostgreSQL's b-tree appends at its rightmost
        # leaf; 284k rows in the order the scoring query streamed them (mostly rising, broken
        # where its parallel workers interleave) took 0.73-1.21 s to insert, sorted 0.56-0.85 s.
        chosen = held.loc[risk >= threshold].sort_values("employee_id", kind="stable")
        chosen = chosen.reset_index(drop=True)
        self._pieces, self._held = [], 0
        first: Counter[str] = Counter()
        rows = groups = 0
        methods: set[str] = set()
        with (
            work_dir.removed_on_failure(self.reasons_path),
            work_dir.create_private(self.reasons_path) as handle,
            pq.ParquetWriter(handle, REASONS_SCHEMA) as writer,
        ):
            for start in range(0, len(chosen), CONTRIB_ROWS):
                frame = chosen.iloc[start : start + CONTRIB_ROWS]
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
                groups += explained.groups
                methods.add(explained.method)
                ranks = table.column("rank").to_numpy()
                first.update(np.asarray(table.column("feature"))[ranks == 1].tolist())
        stats.update(
            employees=sum(first.values()),  # with at least one reason (one first reason each)
            selected=len(chosen),
            rows=rows,
            threshold=threshold,
            candidates=self.kept,
            contributions=" + ".join(sorted(methods)),  # "grouped", or why it fell back
            tree_patterns=groups,  # (tree, branch pattern) pairs TreeSHAP ran on
            first_reason=dict(first.most_common()),
        )
        return ReasonsFile(str(self.reasons_path), rows, stats)
