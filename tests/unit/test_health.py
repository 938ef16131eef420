"""The model-health rules as plain functions (tasks/health.py), and health_breaches on DuckDB."""

import json
from datetime import date, timedelta

import pytest

from tasks.errors import PulsewatchError
from tasks.health import (
    Breach,
    HealthPolicy,
    alert_due,
    auc_breach,
    decide_health,
    drift_breaches,
    health_event,
    retrain_reason,
    top_features,
)
from tests.support.monitoring_checks import check_health_table

pytestmark = pytest.mark.unit
POLICY = HealthPolicy(auc_floor=0.7, auc_dates=3, psi_limit=0.25, top_features=2)
D = [date(2026, 9, 1) + timedelta(days=7 * i) for i in range(6)]


def test_realized_auc_breaks_after_k_consecutive_low_dates():
    good, low = 0.8, 0.6
    history = [(D[0], "m1", good), (D[1], "m1", low), (D[2], "m2", low)]
    assert auc_breach(history, POLICY) is None  # two low dates: not yet
    history.append((D[3], "m2", 0.65))
    assert auc_breach(history, POLICY) == Breach("realized_auc", "auc", 0.65, 0.7, D[1], 3, "m2")
    # in any order; an undefined AUC (one class) is no evaluation and does not break the run
    history = [*reversed(history), (D[4], "m2", None)]
    assert auc_breach(history, POLICY) == Breach("realized_auc", "auc", 0.65, 0.7, D[1], 3, "m2")
    # one date at the floor ends it: AUC exactly 0.70 is not below 0.70
    assert auc_breach([*history, (D[5], "m3", 0.7)], POLICY) is None
    assert auc_breach([], POLICY) is None


def test_top_features_by_gain_skip_unused_and_break_ties_by_name():
    gain = {"a": 5.0, "b": 9.0, "c": 5.0, "unused": 0.0}
    assert top_features(gain, 2) == ["b", "a"]
    assert top_features(gain, 10) == ["b", "a", "c"]
    assert top_features(gain, 0) == []


def test_drift_breaks_for_the_score_and_watched_features_only():
    gain = {"department": 50.0, "tenure_months": 10.0, "mean_6m": 8.0, "work_score": 1.0}
    tonight = D[3]
    history = {
        D[0]: {"risk_score": 0.3, "tenure_months": 0.9, "mean_6m": 0.1, "work_score": 2.0},
        D[1]: {"risk_score": 0.1, "tenure_months": 0.4, "mean_6m": 0.1, "work_score": 2.0},
        D[2]: {"risk_score": 0.26, "tenure_months": 0.5, "mean_6m": 0.25, "work_score": 2.0},
        tonight: {"risk_score": 0.3, "tenure_months": 0.6, "mean_6m": 0.3, "work_score": 2.0},
        D[4]: {"risk_score": 9.0, "tenure_months": 9.0, "mean_6m": 9.0, "work_score": 9.0},
    }
    # department (rank 1) counts among the top 2 but has no PSI; mean_6m (rank 3) and
    # work_score (rank 4) are not watched; a later night (D[4], as when an earlier date is
    # rerun) is not part of tonight's streak
    assert drift_breaches(history, tonight, "m1", gain, POLICY) == [
        Breach("score_psi", "risk_score", 0.3, 0.25, D[2], 2, "m1", None),
        Breach("feature_psi", "tenure_months", 0.6, 0.25, D[0], 4, "m1", 2),
    ]
    # watching three: mean_6m at exactly 0.25 on D[2] is not above the limit, so its streak
    # starts tonight
    wider = HealthPolicy(top_features=3)
    assert drift_breaches(history, tonight, "m1", gain, wider)[2] == (
        Breach("feature_psi", "mean_6m", 0.3, 0.25, tonight, 1, "m1", 3)
    )
    assert drift_breaches(history, D[5], "m1", gain, POLICY) == []  # no drift tonight
    calm = {tonight: {"risk_score": 0.25, "tenure_months": 0.01}}
    assert drift_breaches(calm, tonight, "m1", gain, POLICY) == []


def test_decide_health_lists_drift_then_auc():
    drift = {D[5]: {"risk_score": 1.0}}
    auc = [(day, "m0", 0.5) for day in D[:3]]
    found = decide_health(auc, drift, D[5], "m1", {}, POLICY)
    assert [(b.rule, b.model_version) for b in found] == [
        ("score_psi", "m1"),
        ("realized_auc", "m0"),
    ]


def test_policy_refuses_nonsense_in_one_line():
    for kwargs, message in (
        ({"auc_dates": 0}, r"^health_auc_dates: must be at least 1 \(got 0\)$"),
        ({"psi_limit": 0}, r"^health_psi_limit: must be above 0"),
        ({"top_features": -1}, r"^health_top_features: must be 0 or more"),
        ({"remind_days": 0}, r"^health_remind_days: must be at least 1"),
        ({"auc_floor": 1.5}, r"^auc_floor: must be between 0 and 1"),
    ):
        with pytest.raises(PulsewatchError, match=message):
            HealthPolicy(**kwargs)


def test_one_event_carries_every_breach_as_json():
    breaches = [
        Breach("feature_psi", "tenure_months", 1.5, 0.25, D[2], 1, "m1", 3),
        Breach("realized_auc", "auc", 0.6, 0.7, D[0], 3, "m0"),
    ]
    event = health_event(D[2], "m1", breaches)
    assert event["event"] == "pulsewatch.health.breached"
    assert event["resource"] == {
        "prefect.resource.id": "pulsewatch.model.m1",
        "prefect.resource.name": "m1",
    }
    payload = json.loads(json.dumps(event["payload"]))  # plain JSON: numbers, names, dates
    assert payload == {
        "score_date": "2026-09-15",
        "model_version": "m1",
        "breaches": [
            {
                "rule": "feature_psi",
                "feature": "tenure_months",
                "value": 1.5,
                "threshold": 0.25,
                "since": "2026-09-15",
                "dates": 1,
                "model_version": "m1",
                "rank": 3,
            },
            {
                "rule": "realized_auc",
                "feature": "auc",
                "value": 0.6,
                "threshold": 0.7,
                "since": "2026-09-01",
                "dates": 3,
                "model_version": "m0",
                "rank": None,
            },
        ],
    }


def test_a_persisting_breach_alerts_when_it_starts_then_every_remind_days():
    """Night by night, a drift on tenure_months from D0 and, from D3, the risk score: each is
    announced on its first night, then only when its run has lasted 7, 14 ... days; a rerun of
    the first night (nothing recorded before it) alerts again; another model's breach is new."""
    start = date(2026, 11, 1)

    def drift(feature: str, since: date, tonight: date, model: str = "m1") -> Breach:
        dates = (tonight - since).days + 1
        return Breach("feature_psi", feature, 0.4, 0.25, since, dates, model, 1)

    alerted, previous = [], []
    for night in (start + timedelta(days=d) for d in range(16)):
        tonight = [drift("tenure_months", start, night)]
        if night >= start + timedelta(days=3):
            tonight.append(drift("risk_score", start + timedelta(days=3), night))
        due = alert_due(tonight, previous, night, remind_days=7)
        alerted.append(((night - start).days, sorted(b.feature for b in due)))
        previous = tonight
    assert [a for a in alerted if a[1]] == [
        (0, ["tenure_months"]),
        (3, ["risk_score"]),
        (7, ["tenure_months"]),
        (10, ["risk_score"]),
        (14, ["tenure_months"]),
    ]
    first = [drift("tenure_months", start, start)]
    assert alert_due(first, [], start, 7) == first
    retrained = [drift("tenure_months", start, start + timedelta(days=2), model="m2")]
    assert alert_due(retrained, previous, start + timedelta(days=2), 7) == retrained
    # the realized-AUC rule: the same breach on the next night is not news; since counts from
    # the first low score date
    low = Breach("realized_auc", "auc", 0.6, 0.7, start, 3, "m1")
    assert alert_due([low], [low], start + timedelta(days=20), 7) == []
    assert alert_due([low], [low], start + timedelta(days=21), 7) == [low]


def test_retraining_answers_only_breaches_about_the_model_that_would_score():
    drifted = Breach("feature_psi", "tenure_months", 1.5, 0.25, D[2], 1, "m1", 3)
    low = Breach("realized_auc", "auc", 0.6, 0.7, D[0], 3, "m0")
    assert retrain_reason([drifted, low], "m1") == ("health alert on m1 last night (tenure_months)")
    assert retrain_reason([low], "m1") is None  # m0 was replaced already
    assert retrain_reason([], "m1") is None
    assert retrain_reason([drifted], None) is None  # no model: trains anyway


def test_health_breaches_on_duckdb(duck):
    check_health_table(duck)
