import pytest

from tasks.promotion import PromotionPolicy, decide

pytestmark = pytest.mark.unit
POLICY = PromotionPolicy(auc_floor=0.70, max_auc_drop=0.02)


def test_first_model_above_floor_becomes_champion():
    decision = decide(0.81, None, POLICY)
    assert decision.promote and decision.status == "champion"


def test_below_floor_is_rejected_even_without_champion():
    decision = decide(0.69, None, POLICY)
    assert not decision.promote and decision.status == "rejected"
    assert "below the floor 0.7000" in decision.reason


def test_within_tolerance_of_champion_is_promoted():
    assert decide(0.795, 0.81, POLICY).promote


def test_much_worse_than_champion_is_rejected():
    decision = decide(0.75, 0.81, POLICY)
    assert decision.status == "rejected"
    assert "more than 0.0200 below the champion's 0.8100" in decision.reason


def test_calibration_error_above_the_maximum_is_rejected_naming_both_numbers():
    decision = decide(0.81, 0.80, POLICY, calibration_error=0.0712)
    assert decision.status == "rejected"
    assert decision.calibration_error == 0.0712
    assert decision.reason == (
        "AUC 0.8100 vs champion 0.8000 is within tolerance, but the calibration error (ECE) "
        "0.0712 is above the maximum 0.0500"
    )


def test_calibration_error_within_the_maximum_is_promoted_and_said():
    decision = decide(0.81, None, POLICY, calibration_error=0.05)
    assert decision.promote
    assert decision.reason == (
        "no champion yet; AUC 0.8100 clears the floor 0.7000; calibration error (ECE) 0.0500 "
        "is within the maximum 0.0500"
    )
    strict = PromotionPolicy(auc_floor=0.70, max_auc_drop=0.02, max_calibration_error=0.01)
    assert not decide(0.81, None, strict, calibration_error=0.0101).promote


def test_the_auc_rules_come_first_and_a_model_without_calibration_is_not_checked():
    decision = decide(0.69, None, POLICY, calibration_error=0.30)
    assert decision.reason == "AUC 0.6900 is below the floor 0.7000"
    assert (
        decide(0.81, None, POLICY).reason == "no champion yet; AUC 0.8100 clears the floor 0.7000"
    )
