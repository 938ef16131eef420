"""Calibrated risk (tasks/calibration.py) and its place in the model JSON (tasks/model.py)."""

import json
from datetime import date

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score

from tasks.calibration import (
    CROSS_FITTED,
    IDENTITY,
    MIN_CLASS_ROWS,
    PLATT,
    Calibrator,
    calibrate,
    fit_calibrator,
    reliability,
)
from tasks.errors import ModelStoreError
from tasks.model import FORMAT, FORMAT_UNCALIBRATED, PulseModel, model_matrix
from tasks.model_store import LocalModelStore, StoredModel, load_model, save_model, sha256
from tasks.training import TrainingConfig, fit_model, precision_top, split_by_time
from tests.conftest import SMALL_DEMO, copy_demo

pytestmark = pytest.mark.unit
TRAIN_END = date(2026, 11, 20)


def overconfident(rows: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margins twice as confident as the truth and shifted: P(y=1) = sigmoid(0.5 m - 1)."""
    rng = np.random.default_rng(seed)
    margin = rng.normal(0.0, 3.0, rows)
    labels = (rng.random(rows) < expit(0.5 * margin - 1.0)).astype(np.int8)
    return margin, labels, np.arange(rows, dtype=np.int64) + 1000


def test_reliability_by_hand():
    measured = reliability(np.array([0.05, 0.15, 0.15, 0.95]), np.array([0, 1, 0, 1]))
    # ECE = 1/4 |0.05 - 0| + 2/4 |0.15 - 0.5| + 1/4 |0.95 - 1|
    assert measured["ece"] == pytest.approx(0.2)
    assert measured["brier"] == pytest.approx((0.05**2 + 0.85**2 + 0.15**2 + 0.05**2) / 4)
    table = {row["bin"]: row for row in measured["table"]}
    assert len(table) == 10
    assert table["0.1-0.2"] == {
        "bin": "0.1-0.2",
        "mean_predicted": pytest.approx(0.15),
        "observed_rate": 0.5,
        "n": 2,
    }
    assert table["0.9-1.0"]["n"] == 1 and table["0.9-1.0"]["observed_rate"] == 1.0
    assert table["0.5-0.6"] == {
        "bin": "0.5-0.6",
        "mean_predicted": None,
        "observed_rate": None,
        "n": 0,
    }


def test_platt_recovers_a_known_miscalibration():
    margin, labels, ids = overconfident(40_000)
    calibrator, metrics = calibrate(margin, labels, ids)
    assert calibrator.method == PLATT
    assert calibrator.slope == pytest.approx(0.5, abs=0.03)
    assert calibrator.intercept == pytest.approx(-1.0, abs=0.05)
    assert metrics["measured_after"] == CROSS_FITTED
    assert metrics["before"]["ece"] > 0.10  # sigmoid(m) is far from sigmoid(0.5 m - 1)
    assert metrics["after"]["ece"] < 0.02
    assert metrics["after"]["brier"] < metrics["before"]["brier"]
    # strictly increasing: the ranking, and so the AUC, is the uncalibrated one
    assert roc_auc_score(labels, calibrator.apply(margin)) == pytest.approx(
        roc_auc_score(labels, margin), abs=1e-12
    )


def test_after_is_cross_fitted_by_employee_parity():
    """Each employee_id parity is scored by the calibrator fitted on the other one."""
    margin, labels, ids = overconfident(6_000)
    _, metrics = calibrate(margin, labels, ids)
    even = ids % 2 == 0
    expected = np.empty(len(margin))
    expected[even] = fit_calibrator(margin[~even], labels[~even]).apply(margin[even])
    expected[~even] = fit_calibrator(margin[even], labels[even]).apply(margin[~even])
    assert metrics["after"] == reliability(expected, labels)
    in_sample = fit_calibrator(margin, labels).apply(margin)
    assert metrics["after"] != reliability(in_sample, labels)


def test_too_few_positives_fall_back_to_identity_with_the_reason():
    margin, labels, ids = overconfident(4_000)
    labels = np.zeros_like(labels)
    labels[: MIN_CLASS_ROWS - 1] = 1
    calibrator, metrics = calibrate(margin, labels, ids)
    assert calibrator.method == IDENTITY
    assert metrics["reason"] == (
        f"identity: {MIN_CLASS_ROWS - 1} positive and {4_000 - MIN_CLASS_ROWS + 1} negative "
        f"validation rows; Platt scaling needs at least {MIN_CLASS_ROWS} of each"
    )
    np.testing.assert_allclose(calibrator.apply(margin), expit(margin))


def test_a_model_that_ranks_backwards_is_not_inverted():
    margin, labels, _ = overconfident(4_000)
    calibrator = fit_calibrator(-margin, labels)
    assert calibrator.method == IDENTITY
    assert "slope -0.5" in calibrator.reason and "is not positive" in calibrator.reason


def test_precision_in_the_top_breaks_ties_by_employee_id():
    scores = np.array([0.9, 0.8, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    labels = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    ids = np.array([5, 9, 3, 1, 2, 4, 6, 7, 8, 10])
    # top 10% of 10 rows: 1 row (id 5, positive); top 20%: id 5, then of the tie at 0.8 the
    # lower employee_id: id 3, positive
    assert precision_top(scores, labels, ids, 0.10) == 1.0
    assert precision_top(scores, labels, ids, 0.20) == 1.0
    assert precision_top(scores, labels, ids, 0.25) == pytest.approx(2 / 3)  # ceil(2.5) rows
    swapped = ids.copy()
    swapped[[1, 2]] = [3, 9]  # now the negative of the tie has the lower employee_id
    assert precision_top(scores, labels, swapped, 0.20) == 0.5


# -- the model JSON --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_model(demo_file, tmp_path_factory):
    """A 40-round model on SMALL_DEMO and its frame, fitted once for the module: the tests
    only read them (each changes a JSON copy of the model, never the model)."""
    from tasks.features import TrainingWindow, extract_training_frame

    with copy_demo(demo_file, SMALL_DEMO, tmp_path_factory.mktemp("calibration")) as warehouse:
        frame = extract_training_frame(warehouse, TrainingWindow.ending(TRAIN_END, 12))
    return fit_model(frame, TrainingConfig(num_boost_round=40), TRAIN_END), frame


def test_predict_is_the_calibrated_margin_and_keeps_the_ranking(demo_model):
    model, frame = demo_model
    _, valid = split_by_time(frame, 3)
    calibrator = model.calibrator
    assert calibrator is not None and calibrator.method == PLATT
    assert model.metrics["calibration"]["slope"] == calibrator.slope
    margin = model.booster.predict(model_matrix(valid, model.categories), raw_score=True)
    risk = model.predict(valid)
    np.testing.assert_allclose(risk, expit(calibrator.slope * margin + calibrator.intercept))
    assert not np.allclose(risk, expit(margin), atol=1e-3)  # calibration moved the scores
    assert model.metrics["auc"] == pytest.approx(roc_auc_score(valid["label"], margin), abs=1e-9)
    # the validation mean of Platt-scaled risk is the validation positive rate (its intercept)
    assert risk.mean() == pytest.approx(model.metrics["positive_rate_valid"], abs=1e-4)


def test_calibrator_round_trips_as_plain_numbers(demo_model, tmp_path):
    model, frame = demo_model
    document = json.loads(model.to_bytes())
    assert document["format"] == FORMAT == "pulsewatch-lightgbm/2"
    assert set(document["calibrator"]) == {"method", "slope", "intercept", "reason"}
    assert document["calibrator"]["slope"] == model.calibrator.slope
    store = LocalModelStore(tmp_path / "models")
    restored = load_model(store, save_model(store, model, "m1"))
    assert restored.calibrator == model.calibrator
    np.testing.assert_array_equal(restored.predict(frame), model.predict(frame))


def test_a_model_stored_before_calibration_scores_as_before(demo_model):
    """An older registry entry: format 1, no calibrator key. It loads, scores with LightGBM's
    own probability (bit-identical), and is written back unchanged."""
    model, frame = demo_model
    document = json.loads(model.to_bytes())
    del document["calibrator"]
    document["format"] = FORMAT_UNCALIBRATED
    document["metrics"] = {k: v for k, v in document["metrics"].items() if k != "calibration"}
    old = json.dumps(document, sort_keys=True).encode("utf-8")
    restored = PulseModel.from_bytes(old)
    assert restored.calibrator is None
    raw = model.booster.predict(model_matrix(frame, model.categories), num_threads=1)
    np.testing.assert_array_equal(restored.predict(frame), raw)
    assert not np.allclose(restored.predict(frame), model.predict(frame), atol=1e-3)
    assert restored.to_bytes() == old


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("calibrator"), "model format 'pulsewatch-lightgbm/2' without its"),
        (
            lambda d: d["calibrator"].update(slope="2"),
            "model calibrator slope is '2', not a number",
        ),
        (lambda d: d["calibrator"].update(slope=-1.0), "model calibrator slope -1.0 is not"),
        (lambda d: d["calibrator"].update(method="isotonic"), "unknown model calibrator method"),
        (lambda d: d.update(calibrator=[1, 2]), "model calibrator is list, not an object"),
    ],
)
def test_a_damaged_calibrator_is_refused_with_one_line(demo_model, tmp_path, change, message):
    model, _ = demo_model
    document = json.loads(model.to_bytes())
    change(document)
    store = LocalModelStore(tmp_path / "models")
    payload = json.dumps(document).encode("utf-8")
    stored = StoredModel("m1", store.put("m1", payload), sha256(payload))
    with pytest.raises(ModelStoreError, match=f"^model m1: unreadable artifact \\({message}"):
        load_model(store, stored)


def test_calibrator_from_dict_rejects_infinite_numbers():
    with pytest.raises(ValueError, match="intercept is inf, not a finite number"):
        Calibrator.from_dict({"method": PLATT, "slope": 1.0, "intercept": float("inf")})
    assert Calibrator.from_dict(Calibrator(PLATT, 2.0, -1.0, "r").to_dict()) == Calibrator(
        PLATT, 2.0, -1.0, "r"
    )
    assert logit(Calibrator(PLATT, 2.0, -1.0).apply(np.array([1.0])))[0] == pytest.approx(1.0)
