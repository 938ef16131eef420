"""Training on the demo data: time split, a real AUC, serialisation round trip.

The frame is the default demo size (2,000 employees x 24 months, as `make run` uses), extracted
once per session (tests/conftest.py: default_demo_frame, a copy per test); the default-config
champion is fitted once (default_demo_model) and the 30-round model once per module: the tests
only read them."""

from datetime import date

import numpy as np
import pytest

from tasks.model import PulseModel
from tasks.training import TrainingConfig, evaluate_on_validation, fit_model, split_by_time

pytestmark = pytest.mark.unit
TRAIN_END = date(2026, 11, 20)


@pytest.fixture(scope="module")
def model_30_rounds(default_demo_training_frame):
    return fit_model(default_demo_training_frame, TrainingConfig(num_boost_round=30), TRAIN_END)


def test_split_is_by_time(default_demo_frame):
    train, valid = split_by_time(default_demo_frame, 3)
    assert train.feature_month.max() < valid.feature_month.min()
    assert valid.feature_month.nunique() == 3
    assert len(train) + len(valid) == len(default_demo_frame)


def test_demo_champion_auc_is_well_above_chance(default_demo_model):
    model = default_demo_model
    assert model.params["num_boost_round"] == TrainingConfig().num_boost_round
    assert model.metrics["auc"] >= 0.75
    assert model.metrics["n_valid"] > 3000
    assert model.params["num_threads"] == 1


def test_shuffled_labels_learn_nothing(default_demo_frame):
    shuffled = default_demo_frame.copy()
    shuffled["label"] = np.random.default_rng(0).permutation(shuffled["label"].to_numpy())
    model = fit_model(shuffled, TrainingConfig(), TRAIN_END)
    assert 0.40 < model.metrics["auc"] < 0.60


def test_serialised_model_predicts_identically(default_demo_frame, model_30_rounds):
    model = model_30_rounds
    restored = PulseModel.from_bytes(model.to_bytes())
    sample = default_demo_frame.head(500)
    np.testing.assert_array_equal(model.predict(sample), restored.predict(sample))
    assert evaluate_on_validation(restored, default_demo_frame, 3) == pytest.approx(
        model.metrics["auc"]
    )


def test_unseen_department_is_scored_as_missing(default_demo_frame, model_30_rounds):
    model = model_30_rounds
    sample = default_demo_frame.head(50).copy()
    sample["department"] = "Brand New Team"
    scores = model.predict(sample)
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
