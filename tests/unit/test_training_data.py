"""Streamed training (tasks/training_data.py) against the in-memory reference path.

On the default demo size (2,000 employees x 24 months, as `make run` uses): the frame and the
default-config reference model are built once per session (tests/conftest.py:
default_demo_frame, a copy per test, and default_demo_model); `demo` is a warehouse of the
test's own holding the same rows."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.demo_data import DemoSpec, write_demo_data
from tasks.errors import DataContractError
from tasks.features import TrainingWindow, extract_training_data
from tasks.model import model_matrix
from tasks.training import (
    TrainingConfig,
    evaluate_on_validation,
    evaluate_streamed,
    fit_model,
    fit_streamed,
    split_by_time,
)
from tasks.training_data import SpillSequence, TrainingData
from tests.conftest import DEFAULT_DEMO, DEMO_END_MONTH, copy_demo

pytestmark = pytest.mark.unit
TRAIN_END = date(2026, 11, 20)


@pytest.fixture
def demo(demo_file, tmp_path):
    """A warehouse of the test's own holding the default demo data."""
    warehouse = copy_demo(demo_file, DEFAULT_DEMO, tmp_path)
    yield warehouse
    warehouse.close()


@pytest.fixture
def frame(default_demo_frame):
    return default_demo_frame


def batches(frame: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    """The frame cut into batches that straddle month boundaries."""
    return [frame.iloc[start : start + rows] for start in range(0, len(frame), rows)]


def spills(work: Path) -> list[Path]:
    return sorted(work.glob("training-*")) if work.exists() else []


def test_streamed_model_is_the_in_memory_model(demo, frame, default_demo_model, tmp_path):
    reference = default_demo_model  # fit_model(frame, TrainingConfig(), TRAIN_END)
    with extract_training_data(demo, TrainingWindow.ending(TRAIN_END, 18), tmp_path) as data:
        streamed = fit_streamed(data, TrainingConfig(), TRAIN_END)
        assert evaluate_streamed(reference, data, 3) == pytest.approx(reference.metrics["auc"])
    assert streamed.metrics["auc"] == pytest.approx(reference.metrics["auc"], abs=0.005)
    assert streamed.metrics["auc"] >= 0.75
    assert streamed.booster.feature_name() == reference.booster.feature_name()
    assert streamed.categories == reference.categories
    assert streamed.booster.pandas_categorical == reference.booster.pandas_categorical
    for key in ("n_train", "n_valid", "positive_rate_train", "train_months", "valid_months"):
        assert streamed.metrics[key] == reference.metrics[key], key
    # the same validation rows in the same order: the same calibration, measured the same way
    assert streamed.calibrator is not None and streamed.calibrator.method == "platt"
    assert streamed.calibrator == reference.calibrator
    for key in ("calibration", "precision_top5", "precision_top10"):
        assert streamed.metrics[key] == reference.metrics[key], key
    # Below LightGBM's bin sample (200,000 rows) both paths bin the same float64 values: the
    # same trees, so the same scores on the frame PulseModel.predict reads when scoring.
    np.testing.assert_array_equal(streamed.predict(frame), reference.predict(frame))


def test_spill_feeds_lightgbm_the_model_matrix(frame, tmp_path):
    """Batches of 7,777 rows straddle months; LightGBM's rows (by index and by slices that
    cross chunk boundaries) are the model matrix of the training months, in order."""
    with TrainingData.from_frames(batches(frame, 7_777), tmp_path) as data:
        split = data.split(3)
        categories = data.categories(split.train_months)
        sequence = SpillSequence(split.train, data.lookup(categories))
        train, _ = split_by_time(frame, 3)
        matrix = model_matrix(train, categories)
        matrix["department"] = matrix["department"].cat.codes.replace(-1, np.nan)
        expected = matrix.to_numpy(dtype="float64")
        assert len(sequence) == len(expected)
        pushed = [sequence[s : s + 5_000] for s in range(0, len(sequence), 5_000)]
        np.testing.assert_array_equal(np.concatenate(pushed), expected)
        for row in (0, 7_776, 7_777, len(expected) - 1):
            np.testing.assert_array_equal(sequence[row], expected[row])


def test_champion_with_other_categories_is_scored_with_its_own(frame, tmp_path):
    """A champion whose training saw other department names maps them by name, not by the
    candidate's codes: the same AUC as on the in-memory frame."""
    renamed = frame.copy()
    renamed["department"] = renamed["department"].replace(
        {"Sales": "Sales (old)", "Finance": "Accounting"}
    )
    champion = fit_model(renamed, TrainingConfig(num_boost_round=30), TRAIN_END)
    assert champion.categories["department"][0] == "Accounting"
    with TrainingData.from_frames(batches(frame, 10_000), tmp_path) as data:
        streamed = evaluate_streamed(champion, data, 3)
    assert streamed == pytest.approx(evaluate_on_validation(champion, frame, 3))


def test_duplicate_key_in_another_batch_is_refused_and_nothing_left(frame, tmp_path):
    parts = batches(frame, 10_000)
    repeated = parts[0].iloc[[5]]
    parts[-1] = pd.concat([parts[-1], repeated])  # each batch alone is fine
    key = repeated.iloc[0]
    message = (
        "training frame: 1 duplicate (employee_id, month) keys "
        f"(month={key.feature_month.date().isoformat()})"
    )  # the key itself goes to source_issues (tasks/source_issues.py), not into the message
    with pytest.raises(DataContractError) as raised:
        TrainingData.from_frames(parts, tmp_path / "work")
    assert str(raised.value) == message
    assert spills(tmp_path / "work") == []


def test_bad_value_in_a_later_batch_is_refused_and_nothing_left(frame, tmp_path):
    parts = batches(frame, 10_000)
    parts[-1] = parts[-1].copy()
    parts[-1].iloc[3, parts[-1].columns.get_loc("mean_3m")] = 11.0
    with pytest.raises(DataContractError, match=r"^training frame: column mean_3m has 1 values"):
        TrainingData.from_frames(parts, tmp_path / "work")
    assert spills(tmp_path / "work") == []


def test_no_rows_names_the_window(duck, tmp_path):
    write_demo_data(duck, DemoSpec(employees=50, months=6, end_month=DEMO_END_MONTH))
    window = TrainingWindow.ending(date(2020, 6, 1), 3)
    with pytest.raises(DataContractError, match=r"^training frame is empty: no survey rows for"):
        extract_training_data(duck, window, tmp_path / "work")
    assert spills(tmp_path / "work") == []


def test_close_removes_the_spill(frame, tmp_path):
    data = TrainingData.from_frames(batches(frame, 10_000), tmp_path)
    assert len(list(data.path.glob("*.npy"))) == len(data.chunks) == len(data.months) >= 18
    data.close()
    assert spills(tmp_path) == []
