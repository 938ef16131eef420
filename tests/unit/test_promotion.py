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
