"""Model-health assertions shared by the DuckDB and PostgreSQL tests (tasks/monitoring.py)."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import brier_score_loss, roc_auc_score

from tasks.dates import feature_month_for, label_window
from tasks.demo_data import DemoSpec, write_demo_data
from tasks.feature_store import count_scoring_rows, prepare_features, stream_scoring_frames
from tasks.features import TrainingWindow, extract_training_frame, feature_sql
from tasks.monitoring import evaluate_past_scores, evaluate_score_dates, write_drift
from tasks.registry import ensure_result_tables
from tasks.results import load_scores
from tasks.scoring import score_to_file
from tasks.training import TrainingConfig, fit_model
from tasks.warehouse import Warehouse

DEMO = DemoSpec(employees=600, months=16, seed=11, end_month=date(2026, 10, 1))
TONIGHT = date(2026, 11, 20)  # labels known for score dates up to 2026-10-31
SCORED_AT = datetime(2026, 9, 1, 2, 0)


def select(warehouse: Warehouse, table: str) -> pd.DataFrame:
    with warehouse.engine.connect() as conn:
        return pd.read_sql_query(sa.text(f"SELECT * FROM {warehouse.qualified(table)}"), conn)


def performance(warehouse: Warehouse) -> pd.DataFrame:
    rows = warehouse.read(
        "model_performance_read",
        {"first_score_date": date(2000, 1, 1), "last_score_date": date(2100, 1, 1)},
    )
    rows["score_date"] = pd.to_datetime(rows["score_date"]).dt.date
    rows["value"] = rows["value"].astype("float64")
    rows["n"] = rows["n"].astype("int64")
    return rows.sort_values(["score_date", "metric"]).reset_index(drop=True)


def labels_of(warehouse: Warehouse, feature_month: date) -> pd.DataFrame:
    """The training label of one feature month, as training reads it (the reference)."""
    window = label_window(feature_month)
    frame = warehouse.read("training_frame", window.params(), **feature_sql(warehouse))
    # in key order: a Redshift UNLOAD (and the emulation, which shuffles it) keeps no ORDER BY
    return frame[["employee_id", "label"]].sort_values("employee_id", ignore_index=True)


def plant_scores(warehouse: Warehouse, day: date, scores: pd.DataFrame, version: str) -> None:
    rows = scores.assign(
        score_date=day, model_version=version, flow_run_id="test", scored_at=SCORED_AT
    )[["score_date", "employee_id", "risk_score", "model_version", "flow_run_id", "scored_at"]]
    load_scores_frame(warehouse, day, rows)


def load_scores_frame(warehouse: Warehouse, day: date, rows: pd.DataFrame) -> None:
    warehouse.replace_partition("condition_scores", "score_date", day, [rows])


def check_planted_performance(warehouse: Warehouse, source: Warehouse | None = None) -> None:
    """Scores equal to the labels give AUC 1 and precision 1; reversed scores give AUC 0;
    every metric matches scikit-learn / numpy on the same join."""
    write_demo_data(source or warehouse, DEMO)  # `source`: Redshift cannot take demo data
    ensure_result_tables(warehouse)
    perfect, reverse, noisy = date(2026, 9, 3), date(2026, 9, 4), date(2026, 8, 10)
    for day, make in (
        (perfect, lambda y, r: y.astype(float)),
        (reverse, lambda y, r: 1.0 - y),
        (noisy, lambda y, r: np.clip(0.3 * y + r.uniform(0, 0.7, len(y)), 0, 1)),
    ):
        labels = labels_of(warehouse, feature_month_for(day))
        rng = np.random.default_rng(day.toordinal())
        risk = make(labels["label"].to_numpy(), rng)
        plant_scores(
            warehouse,
            day,
            labels.assign(risk_score=risk)[["employee_id", "risk_score"]],
            "m-planted",
        )
    # a date whose labels are not known tonight (November's survey is not complete)
    plant_scores(
        warehouse,
        date(2026, 11, 2),
        labels.assign(risk_score=0.5)[["employee_id", "risk_score"]],
        "m-planted",
    )

    evaluation = evaluate_past_scores(warehouse, TONIGHT)
    assert evaluation.score_dates == [noisy, perfect, reverse]
    got = performance(warehouse)
    assert set(got["score_date"]) == {noisy, perfect, reverse}
    metric = {(r.score_date, r.metric): r.value for r in got.itertuples()}
    assert metric[(perfect, "auc")] == pytest.approx(1.0)
    assert metric[(perfect, "precision_top5")] == pytest.approx(1.0)
    assert metric[(perfect, "brier")] == pytest.approx(0.0)
    assert metric[(reverse, "auc")] == pytest.approx(0.0)
    assert metric[(reverse, "precision_top10")] == pytest.approx(0.0)

    labels = labels_of(warehouse, feature_month_for(noisy))
    y = labels["label"].to_numpy()
    rng = np.random.default_rng(noisy.toordinal())
    risk = np.clip(0.3 * y + rng.uniform(0, 0.7, len(y)), 0, 1)
    order = np.lexsort((labels["employee_id"].to_numpy(), -risk))
    positives = y.sum()
    expected = {
        "auc": roc_auc_score(y, risk),
        "brier": brier_score_loss(y, risk),
        "mean_predicted": risk.mean(),
        "observed_rate": y.mean(),
    }
    for share, name in ((0.05, "5"), (0.10, "10")):
        k = int(np.ceil(share * len(y)))
        top = y[order[:k]].sum()
        expected[f"precision_top{name}"] = top / k
        expected[f"recall_top{name}"] = top / positives
    for name, value in expected.items():
        assert metric[(noisy, name)] == pytest.approx(value, abs=1e-9), name
    assert set(got.loc[got["score_date"] == noisy, "n"]) == {len(y)}
    # 0.3 * label + noise: both classes present, far from perfect
    assert 0.6 < metric[(noisy, "auc")] < 0.95

    # idempotent: nothing pending, nothing changes; forced again, the same rows
    assert evaluate_past_scores(warehouse, TONIGHT).score_dates == []
    evaluate_score_dates(warehouse, [noisy, perfect, reverse])
    again = performance(warehouse)
    pd.testing.assert_frame_equal(again, got)

    # scored again (a backfill with --reprocess all): evaluated again on the next night
    rows = labels.assign(risk_score=y.astype(float))[["employee_id", "risk_score"]]
    rescored = rows.assign(
        score_date=noisy, model_version="m-new", flow_run_id="t", scored_at=datetime(2030, 1, 1)
    )
    load_scores_frame(
        warehouse,
        noisy,
        rescored[
            ["score_date", "employee_id", "risk_score", "model_version", "flow_run_id", "scored_at"]
        ],
    )
    assert evaluate_past_scores(warehouse, TONIGHT).score_dates == [noisy]
    latest = performance(warehouse)
    assert set(latest.loc[latest["score_date"] == noisy, "model_version"]) == {"m-new"}
    assert len(latest) == len(got)


def check_drift(warehouse: Warehouse, work: Path, source: Warehouse | None = None) -> None:
    """A population with one feature shifted by two standard deviations: that feature's PSI
    above 0.25, the unshifted ones small; model_drift replaced per score date."""
    write_demo_data(source or warehouse, DEMO)
    ensure_result_tables(warehouse)
    model = fit_model(
        extract_training_frame(warehouse, TrainingWindow.ending(date(2026, 9, 5), 10)),
        TrainingConfig(num_boost_round=30),
        date(2026, 9, 5),
    )
    day = date(2026, 9, 5)  # feature month 2026-08: just after the validation months
    prepare_features(warehouse, day)
    frames = list(stream_scoring_frames(warehouse, day, 200))
    stable = score_to_file(frames, model, "m1", day, "r", work / "a.parquet").stats["psi"]
    assert set(stable) == {*model.metrics["reference"]}
    assert max(stable.values()) < 0.1, stable

    shifted = []
    for frame in frames:
        frame = frame.copy()
        sd = frame["mean_6m"].std()
        frame["mean_6m"] = frame["mean_6m"] + 2 * sd
        shifted.append(frame)
    psi = score_to_file(shifted, model, "m1", day, "r", work / "b.parquet").stats["psi"]
    assert psi["mean_6m"] > 0.25, psi
    others = {k: v for k, v in psi.items() if k not in ("mean_6m", "risk_score")}
    assert max(others.values()) < 0.1, psi

    assert write_drift(warehouse, day, "m1", psi) == len(psi)
    assert write_drift(warehouse, day, "m1", psi) == len(psi)  # replaced, not added
    stored = select(warehouse, "model_drift")
    assert len(stored) == len(psi)
    assert dict(zip(stored["feature"], stored["psi"].astype(float), strict=True)) == pytest.approx(
        psi
    )


def check_demo_realized_auc(warehouse: Warehouse, work: Path) -> None:
    """On demo data, the realized AUC of a few backfilled score dates is within a few points
    of the model's validation AUC, and latest_condition_scores holds the last date's rows."""
    write_demo_data(warehouse, DEMO)
    ensure_result_tables(warehouse)
    train_end = date(2026, 8, 1)
    model = fit_model(
        extract_training_frame(warehouse, TrainingWindow.ending(train_end, 12)),
        TrainingConfig(),
        train_end,
    )
    days = [date(2026, 8, 2), date(2026, 9, 15), date(2026, 10, 30)]
    for day in days:
        prepare_features(warehouse, day)
        scores = score_to_file(
            stream_scoring_frames(warehouse, day, 500),
            model,
            "m1",
            day,
            "r",
            work / f"{day}.parquet",
            reasons_top_share=0.1,
            population=count_scoring_rows(warehouse, day),
        )
        load_scores(warehouse, scores)
    evaluation = evaluate_past_scores(warehouse, TONIGHT)
    assert evaluation.score_dates == days
    validation = model.metrics["auc"]
    for day in days:
        realized = evaluation.auc[day]
        assert realized is not None
        assert abs(realized - validation) < 0.05, (day, realized, validation)

    latest = select(warehouse, "latest_condition_scores")
    assert set(pd.to_datetime(latest["score_date"]).dt.date) == {days[-1]}
    assert latest["employee_id"].is_unique
    assert len(latest) == int(scores.rows)
    write_drift(warehouse, days[-1], "m1", scores.stats["psi"])


def readme_queries() -> list[str]:
    """The example queries of the README's product-queries section, in order."""
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- product-queries")[1].split("<!-- /product-queries -->")[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def check_readme_queries(warehouse: Warehouse) -> None:
    """After check_demo_realized_auc, on a warehouse whose tables are in the default schema
    (as the README's queries name them): each query runs and returns what it says."""
    at_risk, changed, health, drift = (run(warehouse, q) for q in readme_queries())
    latest = select(warehouse, "latest_condition_scores").merge(
        select(warehouse, "employees"), on="employee_id"
    )
    sales = latest[(latest["department"] == "Sales") & (latest["risk_score"] >= 0.3)]
    assert sorted(at_risk["employee_id"]) == sorted(sales["employee_id"]) and len(sales) > 0
    assert at_risk["risk_score"].is_monotonic_decreasing
    explained = at_risk.dropna(subset=["reason_1"])
    assert len(explained) > 0  # the top decile's reasons, from score_reasons
    reasons = select(warehouse, "score_reasons")
    dates = pd.to_datetime(reasons["score_date"])
    reasons = reasons[dates == dates.max()]
    first = reasons[reasons["rank"] == 1].set_index("employee_id")["feature"]
    assert explained.set_index("employee_id")["reason_1"].to_dict() == {
        e: first[e] for e in explained["employee_id"]
    }
    assert len(changed) == 20 and changed["change"].is_monotonic_decreasing
    before = select(warehouse, "condition_scores")
    before = before[pd.to_datetime(before["score_date"]).dt.date == date(2026, 9, 15)]
    top = changed.iloc[0]
    expected = before.loc[before["employee_id"] == top["employee_id"], "risk_score"].item()
    assert top["risk_before"] == pytest.approx(expected)
    assert set(health["metric"]) == {"auc", "precision_top10"} and len(health) == 6
    assert len(drift) == 14 and drift["psi"].is_monotonic_decreasing


def run(warehouse: Warehouse, query: str) -> pd.DataFrame:
    with warehouse.engine.connect() as conn:
        return pd.read_sql_query(sa.text(query), conn)


def shift_tenure(warehouse: Warehouse, sds: float = 2.0) -> int:
    """Move every employee's hire date back by `sds` standard deviations of their tenure (whole
    months; DuckDB SQL): tenure_months moves by that much for everyone, no other feature moves
    and nobody's activity changes. Returns the shift in months."""
    employees = select(warehouse, "employees")
    hired = pd.to_datetime(employees["hired_on"])
    tenure = (2026 - hired.dt.year) * 12 + (10 - hired.dt.month)  # months at 2026-10
    months = round(sds * float(tenure.std()))
    assert months > 0
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {warehouse.qualified('employees')} "
                f"SET hired_on = CAST(hired_on - INTERVAL '{months} months' AS DATE)"
            )
        )
    return months


def check_health_table(warehouse: Warehouse) -> None:
    """health_breaches: written and read back exactly, replaced per score date (emptied by a
    healthy rerun); the previous scored night's breaches; the health inputs read from
    model_performance and model_drift."""
    from tasks.health import (
        Breach,
        read_breaches,
        read_health_inputs,
        read_previous_breaches,
        write_breaches,
    )

    ensure_result_tables(warehouse)
    night, before, earlier = date(2026, 11, 21), date(2026, 11, 20), date(2026, 11, 19)
    breaches = [
        Breach("feature_psi", "tenure_months", 1.25, 0.25, before, 2, "m1", 3),
        Breach("realized_auc", "auc", 0.5, 0.7, date(2026, 9, 3), 3, "m0", None),
        Breach("score_psi", "risk_score", 0.4, 0.25, earlier, 2, "m1", None),
    ]
    stamp = datetime(2026, 11, 20, 3)
    assert write_breaches(warehouse, before, breaches, "run-1", stamp) == 3
    assert write_breaches(warehouse, before, breaches, "run-1", stamp) == 3  # replaced
    assert write_breaches(warehouse, earlier, breaches[:1], "run-0", stamp) == 1
    by_rule = sorted(breaches, key=lambda b: (b.rule, b.feature))
    assert read_breaches(warehouse, before) == by_rule
    stored = select(warehouse, "health_breaches")
    assert len(stored) == 4 and set(stored["flow_run_id"]) == {"run-0", "run-1"}

    # the previous *scored* night: scores exist for `earlier` and `before`, not for the 18th
    day = pd.DataFrame({"employee_id": [1, 2], "risk_score": [0.1, 0.9]})
    for scored in (earlier, before):
        plant_scores(warehouse, scored, day, "m1")
    assert read_previous_breaches(warehouse, night) == by_rule
    assert read_previous_breaches(warehouse, before) == breaches[:1]
    assert read_previous_breaches(warehouse, earlier) == []
    assert write_breaches(warehouse, before, [], "run-2", stamp) == 0  # a healthy rerun
    assert read_previous_breaches(warehouse, night) == []
    assert read_breaches(warehouse, earlier) == breaches[:1]  # other nights untouched

    # what the rules read: every evaluated date's AUC, one model's PSI by night
    write_drift(warehouse, before, "m1", {"risk_score": 0.4, "tenure_months": 1.25})
    write_drift(warehouse, earlier, "m0", {"risk_score": 0.1})
    rows = pd.DataFrame(
        {
            "score_date": [date(2026, 9, 3), date(2026, 9, 3), date(2026, 9, 10)],
            "model_version": ["m0", "m0", "m1"],
            "metric": ["auc", "brier", "auc"],
            "value": [0.55, 0.2, None],
            "n": [10, 10, 10],
            "computed_at": [stamp] * 3,
        }
    )
    warehouse.replace_partition("model_performance", "model_version", "m0", [rows[:2]])
    warehouse.replace_partition("model_performance", "model_version", "m1", [rows[2:]])
    auc, drift = read_health_inputs(warehouse, night, "m1")
    assert auc == [(date(2026, 9, 3), "m0", 0.55), (date(2026, 9, 10), "m1", None)]
    assert drift == {before: pytest.approx({"risk_score": 0.4, "tenure_months": 1.25})}
