"""Reasons (tasks/reasons.py): the top positive pred_contrib features of exactly the night's top
risk share, chosen while scoring streams (a conservative bound, candidates held and pruned,
TreeSHAP at the end), on a tiny real LightGBM model."""

from __future__ import annotations

import stat
from datetime import date

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tasks import reasons as reasons_module
from tasks.errors import PulsewatchError
from tasks.knobs import check_top_share
from tasks.model import ROW_BY_ROW_BELOW, model_matrix
from tasks.reasons import ReasonsCandidates, select_top, top_count, top_reasons
from tasks.scoring import score_to_file
from tests.support.tiny_model import frame, tiny_model

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _score(model, frames, tmp_path, share, population=None, name="scores-t.parquet"):
    rows = sum(len(f) for f in frames)
    return score_to_file(
        iter(frames), model, "m1", DAY, "run-1", tmp_path / name, 1, share, population or rows
    )


def _reasons(result) -> pd.DataFrame:
    return pq.read_table(result.explained().path).to_pandas()


def test_top_count_and_selection_with_ties():
    assert [top_count(0.1, n) for n in (1000, 3, 10, 0)] == [100, 1, 1, 0]
    assert top_count(0.0, 1000) == 0 and top_count(1.0, 7) == 7
    risk = np.array([0.9, 0.5, 0.1, 0.5, 0.5])
    # k = 2: the threshold is the 2nd largest (0.5), and every tie at it is in
    assert select_top(risk, 0.4).tolist() == [True, True, False, True, True]
    assert select_top(risk, 0.2).tolist() == [True, False, False, False, False]
    assert not select_top(risk, 0.0).any()


def test_top_reasons_positive_only_ties_by_column_order():
    contributions = np.array(
        [
            [0.2, 0.2, 0.1, -0.1, 0.3],  # 4, then the tie 0.2: column 0 before 1
            [0.0, -1.0, 0.3, 0.0, -0.2],  # one positive; a zero raises nothing
            [-0.1, -0.2, -0.3, -0.4, -0.5],  # none
        ]
    )
    assert top_reasons(contributions).tolist() == [[4, 0, 1], [2, -1, -1], [-1, -1, -1]]


@pytest.mark.parametrize("prune_rows", [50_000, 1], ids=["unpruned", "pruned"])
@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled"])
def test_streamed_selection_is_the_exact_top_share_and_reasons_are_pred_contrib(
    model, tmp_path, order, prune_rows, monkeypatch
):
    """However the population streams (risk rising, falling, mixed: the bound must stay
    conservative), the employees with reasons are exactly those at or above the k-th largest
    risk of the whole night, and each one's reasons are its largest positive pred_contrib
    columns, with its own feature values. `pruned`: the candidates are pruned to the k-th
    largest risk seen whenever they hold k + k/4 rows (k = 300: every chunk or two)."""
    monkeypatch.setattr(reasons_module, "PRUNE_ROWS", prune_rows)
    whole = frame(3000, seed=5)
    risk = model.predict(whole)
    if order != "shuffled":
        whole = whole.iloc[np.argsort(risk if order == "ascending" else -risk, kind="stable")]
    frames = [whole.iloc[i : i + 250].reset_index(drop=True) for i in range(0, len(whole), 250)]
    result = _score(model, frames, tmp_path, 0.1)
    reasons = _reasons(result)

    expected_ids = set(frame(3000, seed=5)["employee_id"][select_top(risk, 0.1)])
    assert 300 <= len(expected_ids) < 330
    selected = result.stats["reasons"]["selected"]
    assert selected == len(expected_ids)
    assert set(reasons["employee_id"]) <= expected_ids
    assert result.stats["reasons"]["employees"] == reasons["employee_id"].nunique()

    # the reference: LightGBM's own pred_contrib, argsorted here
    chosen = whole.set_index("employee_id").loc[sorted(expected_ids)].reset_index()
    contrib = model.booster.predict(
        model_matrix(chosen, model.categories), pred_contrib=True, num_threads=1
    )[:, :-1]
    first = reasons[reasons["rank"] == 1].set_index("employee_id")
    for row, employee in enumerate(chosen["employee_id"]):
        best = int(np.argmax(contrib[row]))
        if contrib[row, best] <= 0:
            assert employee not in first.index
            continue
        assert first.loc[employee, "feature"] == model.feature_columns[best]
        assert first.loc[employee, "contribution"] == pytest.approx(contrib[row, best])
        expected_value = chosen.loc[row, model.feature_columns[best]]
        text = first.loc[employee, "value"]
        if isinstance(expected_value, str):
            assert text == expected_value
        elif pd.isna(expected_value):
            assert text is None
        else:
            assert float(text) == pytest.approx(expected_value, rel=1e-5)
    # by construction (low health, department Ops) the first reason is mostly health_score
    counts = result.stats["reasons"]["first_reason"]
    assert max(counts, key=counts.get) == "health_score"
    ranks = reasons.groupby("employee_id")["rank"].apply(list)
    assert all(r == list(range(1, len(r) + 1)) for r in ranks)
    assert (reasons["contribution"] > 0).all()
    # contributions fall with the rank
    wide = reasons.pivot(index="employee_id", columns="rank", values="contribution")
    assert (wide[1] >= wide[2].fillna(-1)).all() and (wide[2].dropna() >= wide[3].dropna()).all()


def test_work_files_private_spill_removed(model, tmp_path):
    result = _score(model, [frame(600, seed=1)], tmp_path, 0.2)
    explained = result.explained()  # waits for the background explanation
    assert stat.S_IMODE(tmp_path.joinpath(explained.path).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "scores-t-reasons.parquet",
        "scores-t.parquet",
    ]
    # the reasons' schema is the table's
    assert pq.read_schema(explained.path).names == [
        "score_date",
        "employee_id",
        "rank",
        "feature",
        "value",
        "contribution",
        "model_version",
        "flow_run_id",
    ]


def test_no_reasons_at_share_zero(model, tmp_path):
    result = _score(model, [frame(300)], tmp_path, 0.0)
    assert result.reasons is None and result.explained() is None
    assert "reasons" not in result.stats


def test_a_grown_population_stops_the_night_and_leaves_no_file(model, tmp_path):
    """More rows than counted: the bound may have dropped a row of the top share."""
    with pytest.raises(PulsewatchError, match=r"population grew .*100 counted, 400 scored"):
        _score(model, [frame(200), frame(200, seed=2, first_id=500)], tmp_path, 0.1, 100)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_a_bad_share_is_one_line(bad):
    with pytest.raises(PulsewatchError, match=r"^reasons_top_share: must be a share between"):
        check_top_share(bad)


def test_the_candidates_keep_the_margin_scoring_computed(
    default_demo_model, default_demo_frame, tmp_path
):
    """Scoring computes risk and the booster's raw score in one pass; the candidates keep that
    raw score, which TreeSHAP's check then compares its sums with (tasks/tree_shap.py)."""
    model = default_demo_model
    assert model.calibrator is not None  # the margin is only known for a calibrated model
    chunk = default_demo_frame.drop_duplicates("employee_id").reset_index(drop=True)
    risk, margin = model.predict_with_margin(chunk, 1)
    np.testing.assert_array_equal(risk, model.predict(chunk, 1))
    np.testing.assert_array_equal(margin, model.margin(chunk, 1))

    # a share just large enough for the grouped TreeSHAP (ROW_BY_ROW_BELOW rows), whose check
    # reads it; no larger (explaining rows is this test's cost)
    share = 1.2 * ROW_BY_ROW_BELOW / len(chunk)
    candidates = ReasonsCandidates(
        share, len(chunk), tmp_path / "s-reasons.parquet", model.feature_columns
    )
    candidates.add(chunk, risk, margin)
    kept = candidates.candidates()

    by_id = pd.Series(margin, index=chunk["employee_id"])
    assert candidates.kept == len(chunk) and len(kept) >= candidates.k > 0
    np.testing.assert_array_equal(kept["margin"], by_id.loc[kept["employee_id"]].to_numpy())
    result = candidates.finish(model, DAY, "m1", "run-1", 1)
    assert result.stats["contributions"] == "grouped"


def test_candidates_stay_near_the_top_share_whatever_the_order(model, monkeypatch, tmp_path):
    """Memory is bounded by the top share, not the population: pruned at k + k/4 rows, the
    candidates never hold more than that plus one chunk, even when the risks arrive rising
    (every row is then above the bound when it arrives). Rows tied at the bound all stay (any
    of them may be in the night's top share): the tiny model's risks tie often."""
    monkeypatch.setattr(reasons_module, "PRUNE_ROWS", 1)
    whole = frame(4000, seed=9)
    risk = model.predict(whole)
    order = np.argsort(risk, kind="stable")
    candidates = ReasonsCandidates(0.05, 4000, tmp_path / "r.parquet", model.feature_columns)
    peak = 0
    for start in range(0, 4000, 100):
        rows = order[start : start + 100]
        candidates.add(whole.iloc[rows].reset_index(drop=True), risk[rows])
        peak = max(peak, candidates._held)
    assert candidates.kept == 4000  # rising risks: each row was a candidate when it came
    most_tied = int(np.unique(risk, return_counts=True)[1].max())
    assert peak <= 200 + 50 + 100 + most_tied < 4000 / 4
    assert set(candidates.candidates()["employee_id"]) == set(
        whole["employee_id"][select_top(risk, 0.05)]
    )


def test_trees_parsed_while_scoring_streams_give_the_same_reasons(model, tmp_path):
    """Scoring starts the trees' parse in a thread before its chunks (ReasonsCandidates.prepare);
    the reasons then equal those of a model that parses them when first asked."""
    late = tiny_model()  # a fresh model: nothing parsed yet
    thread = late.prepare_contributions()
    assert thread is not None
    thread.join()
    assert len(late._trees) == late.booster.num_trees()
    assert late.prepare_contributions() is None  # parsed once
    rows = frame(600, seed=3)
    fresh = tiny_model()
    np.testing.assert_array_equal(
        late.contributions(rows, 1).values, fresh.contributions(rows, 1).values
    )
    streamed = _score(late, [rows.iloc[:300], rows.iloc[300:]], tmp_path, 0.5, name="a.parquet")
    asked = _score(tiny_model(), [rows], tmp_path, 0.5, name="b.parquet")
    pd.testing.assert_frame_equal(_reasons(streamed), _reasons(asked))


def test_reasons_are_written_in_key_order(model, tmp_path):
    """score_reasons' rows come in (employee_id, rank) order, its primary key's, whatever order
    the population streamed in (the b-tree then appends them: tasks/reasons.py)."""
    rows = frame(900, seed=4).sample(frac=1.0, random_state=1).reset_index(drop=True)
    reasons = _reasons(_score(model, [rows.iloc[:450], rows.iloc[450:]], tmp_path, 0.4))
    keys = list(zip(reasons["employee_id"], reasons["rank"], strict=True))
    assert len(keys) > 300 and keys == sorted(keys)
