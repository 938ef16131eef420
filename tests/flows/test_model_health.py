"""The nightly flow writes model health: tonight's drift and past dates' realized performance."""

from datetime import date

import pytest

from flows.nightly import nightly_pipeline
from tests.support.monitoring_checks import performance, select

pytestmark = pytest.mark.flow


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
