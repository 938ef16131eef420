"""The nightly flow writes model health: tonight's drift and past dates' realized performance."""

from datetime import date, timedelta

import pytest

from flows.nightly import nightly_pipeline
from tasks.dates import feature_month_for
from tasks.health import read_breaches, top_features
from tests.conftest import SCORE_DATE
from tests.support.monitoring_checks import (
    labels_of,
    performance,
    plant_scores,
    select,
    shift_tenure,
)

pytestmark = pytest.mark.flow
NIGHT = SCORE_DATE  # 2026-11-20: labels known for score dates up to 2026-10-31


def test_nightly_evaluates_past_scores_and_records_drift(demo_warehouse):
    past, tonight = date(2026, 10, 30), date(2026, 11, 20)  # October is labelled by November
    first = nightly_pipeline(score_date=past)
    assert performance(demo_warehouse).empty  # October's labels are unknown on Oct 30

    second = nightly_pipeline(score_date=tonight)
    got = performance(demo_warehouse)
    assert set(got["score_date"]) == {past}
    assert set(got["model_version"]) == {first.scoring.model_version}
    auc = got.loc[got["metric"] == "auc", "value"].item()
    assert first.training is not None
    assert abs(auc - first.training.auc) < 0.05, (auc, first.training.auc)

    drift = select(demo_warehouse, "model_drift")
    assert sorted(drift["score_date"].astype(str).unique()) == [str(past), str(tonight)]
    drift = drift[drift["score_date"].astype(str) == str(tonight)]
    assert len(drift) == 14  # 13 numeric features and the risk score
    assert set(drift["model_version"]) == {second.scoring.model_version}
    assert (drift["psi"] >= 0).all() and drift["psi"].max() < 0.25  # same demo population

    nightly_pipeline(score_date=tonight)  # nothing newly evaluable: the same rows
    again = performance(demo_warehouse)
    assert again.equals(got)
    assert len(select(demo_warehouse, "model_drift")) == 28  # replaced, not added


@pytest.mark.long
def test_a_shifted_feature_breaches_once_and_forces_retraining_only_when_asked(demo_duck):
    """tenure_months moved by two standard deviations after the champion was trained: tonight
    breaks feature_psi for it (and nothing else it should not); the breach is recorded, and the
    next night retrains only with retrain_on_health_alert."""
    first = nightly_pipeline(score_date=NIGHT)
    assert first.training is not None and first.health == []
    importance = first.scoring.stats["importance"]
    assert "tenure_months" in top_features(importance, 5), importance  # a watched feature
    rank = top_features(importance, 5).index("tenure_months") + 1

    shift_tenure(demo_duck)
    shifted = nightly_pipeline(score_date=NIGHT + timedelta(days=1))
    assert shifted.training is None  # the champion is one day old
    drifted = [b for b in shifted.health if b.rule == "feature_psi"]
    assert [(b.feature, b.rank) for b in drifted] == [("tenure_months", rank)]
    (breach,) = drifted
    psi = shifted.scoring.stats["psi"]
    assert breach.value == pytest.approx(psi["tenure_months"]) and breach.value > 0.25
    assert (breach.threshold, breach.since, breach.dates) == (0.25, shifted.scoring.score_date, 1)
    assert breach.model_version == first.scoring.model_version
    # the other watched features did not move
    others = set(top_features(importance, 5)) - {"tenure_months"}
    assert max(psi[name] for name in others if name in psi) < 0.25, psi
    recorded = read_breaches(demo_duck, shifted.scoring.score_date)
    assert recorded == shifted.health
    assert shifted.health_alerted  # a new breach: the amber event went out

    # the next night: without the parameter the fresh champion keeps scoring ...
    third = NIGHT + timedelta(days=2)
    kept = nightly_pipeline(score_date=third)
    assert kept.training is None
    again = {b.feature: b for b in kept.health}
    assert again["tenure_months"].since == shifted.scoring.score_date  # the same drift ...
    assert again["tenure_months"].dates == 2  # ... for a second night
    assert not kept.health_alerted  # recorded, but announced last night: no alert again
    # ... with it, last night's breach forces training (rerun of the same night)
    retrained = nightly_pipeline(score_date=third, retrain_on_health_alert=True)
    assert retrained.training is not None
    assert retrained.training.model_version != first.scoring.model_version
    assert retrained.training.status == "champion", retrained.training.reason
    assert retrained.scoring.model_version == retrained.training.model_version
    # learned from the shifted months: tonight is like its reference, so no breach to retrain on
    assert retrained.health == [] and read_breaches(demo_duck, third) == []
    after = nightly_pipeline(score_date=third + timedelta(days=1), retrain_on_health_alert=True)
    assert after.training is None


def test_realized_auc_below_the_floor_for_k_evaluated_dates(demo_duck):
    """Planted scores for three past score dates, each the reverse of its labels (realized AUC
    0): tonight evaluates them and breaks realized_auc, since the first of them; asking for four
    consecutive dates it does not, and the rerun replaces the night's breaches."""
    from tasks.registry import ensure_result_tables

    ensure_result_tables(demo_duck)
    days = [date(2026, 10, 5), date(2026, 10, 12), date(2026, 10, 19)]
    for day in days:
        labels = labels_of(demo_duck, feature_month_for(day))
        reverse = labels.assign(risk_score=1.0 - labels["label"])
        plant_scores(demo_duck, day, reverse[["employee_id", "risk_score"]], f"m-{day:%d}")
    report = nightly_pipeline(score_date=NIGHT)
    aucs = performance(demo_duck).query("metric == 'auc'")
    assert sorted(aucs["score_date"]) == days and (aucs["value"] == 0.0).all()

    low = [b for b in report.health if b.rule == "realized_auc"]
    assert len(low) == 1, report.health
    assert (low[0].feature, low[0].value, low[0].threshold) == ("auc", 0.0, 0.70)
    assert (low[0].since, low[0].dates) == (days[0], 3)
    assert low[0].model_version == "m-19"  # the model that scored the latest low date
    assert read_breaches(demo_duck, NIGHT) == report.health

    stricter = nightly_pipeline(score_date=NIGHT, health_auc_dates=4)
    assert [b for b in stricter.health if b.rule == "realized_auc"] == []
    assert read_breaches(demo_duck, NIGHT) == stricter.health  # replaced, not added

    lower_floor = nightly_pipeline(score_date=NIGHT, auc_floor=0.0)  # AUC 0 is not below 0
    assert [b.rule for b in lower_floor.health] == [b.rule for b in stricter.health]
