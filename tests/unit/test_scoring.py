from datetime import date

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tasks.errors import PulsewatchError
from tasks.feature_store import prepare_features, stream_scoring_frames
from tasks.features import TrainingWindow, extract_training_frame
from tasks.registry import ensure_result_tables
from tasks.scoring import ScoreStats, score_to_file
from tasks.training import TrainingConfig, fit_model
from tests.conftest import SMALL_DEMO, copy_demo

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 20)


def test_stats_match_numpy_within_a_bin():
    scores = np.random.default_rng(3).beta(1, 6, size=20_000)
    stats = ScoreStats()
    for part in np.array_split(scores, 7):
        stats.add(part)
    summary = stats.summary()
    assert summary["rows"] == 20_000
    assert summary["mean"] == pytest.approx(scores.mean())
    for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
        assert abs(summary[key] - np.quantile(scores, q)) <= 0.001 + 1e-9
    assert summary["high_risk"] == int((scores >= 0.5).sum())
    assert sum(summary["histogram"]) == 20_000


@pytest.fixture(scope="module")
def model(demo_file, tmp_path_factory):
    """A 20-round model on SMALL_DEMO, fitted once for the module (the tests only score)."""
    with copy_demo(demo_file, SMALL_DEMO, tmp_path_factory.mktemp("scoring")) as warehouse:
        frame = extract_training_frame(warehouse, TrainingWindow.ending(DAY, 10))
    return fit_model(frame, TrainingConfig(num_boost_round=20), DAY)


@pytest.fixture
def demo_duck(demo_duck):
    """SMALL_DEMO with the result tables and the features of DAY and of 1990-01-01."""
    ensure_result_tables(demo_duck)
    prepare_features(demo_duck, DAY)
    prepare_features(demo_duck, date(1990, 1, 1))
    return demo_duck


def test_chunked_scoring_equals_one_pass(demo_duck, model, tmp_path):
    small = score_to_file(
        stream_scoring_frames(demo_duck, DAY, 37), model, "m1", DAY, "r", tmp_path / "a.parquet"
    )
    whole = score_to_file(
        stream_scoring_frames(demo_duck, DAY, 100_000),
        model,
        "m1",
        DAY,
        "r",
        tmp_path / "b.parquet",
    )
    a = pq.read_table(small.path).to_pandas().sort_values("employee_id", ignore_index=True)
    b = pq.read_table(whole.path).to_pandas().sort_values("employee_id", ignore_index=True)
    pd.testing.assert_frame_equal(a.drop(columns="scored_at"), b.drop(columns="scored_at"))
    assert small.rows == len(a) == a.employee_id.nunique()
    assert small.stats["histogram"] == whole.stats["histogram"]
    assert set(a.score_date) == {DAY} and set(a.model_version) == {"m1"}


def test_empty_population_is_refused(demo_duck, model, tmp_path):
    with pytest.raises(PulsewatchError, match="no active employees on 1990-01-01"):
        score_to_file(
            stream_scoring_frames(demo_duck, date(1990, 1, 1), 100),
            model,
            "m1",
            date(1990, 1, 1),
            "r",
            tmp_path / "x.parquet",
        )
    assert not (tmp_path / "x.parquet").exists()
