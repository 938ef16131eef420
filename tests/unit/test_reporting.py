"""tasks/reporting.py: the model comparison and the scoring summary a run publishes, aggregates
only. The pure renderings are unit tests; the two publishing tasks run in a flow against the
session's temporary Prefect server and the artifacts are read back from it."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from tasks.model import PulseModel
from tasks.promotion import PromotionDecision
from tasks.registry import RegistryEntry
from tasks.reporting import NONE_SHOWN, ScoringReport, comparison_table, scoring_markdown
from tasks.scoring import ScoreFile

METRICS = {
    "n_train": 9000,
    "n_valid": 1500,
    "positive_rate_valid": 0.0734,
    "train_end_date": "2026-08-01",
    "auc": 0.71234,
}
STATS = {
    "rows": 200,
    "mean": 0.1234,
    "p50": 0.101,
    "p90": 0.402,
    "p99": 0.733,
    "max": 0.81,
    "high_risk": 12,
    "histogram": [100, 40, 20, 10, 10, 8, 5, 4, 2, 1],
}


def _model() -> PulseModel:
    # comparison_table reads only the metrics; no booster is needed to render them
    return PulseModel(booster=None, categories={}, params={}, metrics=dict(METRICS))  # type: ignore[arg-type]


def _entry(version: str, auc: float | None, status: str = "champion") -> RegistryEntry:
    return RegistryEntry(
        model_version=version,
        trained_at=datetime(2026, 10, 2, tzinfo=UTC),
        train_end_date=date(2026, 7, 1),
        n_train=8000,
        auc=auc,
        params="{}",
        artifact_uri=f"/models/{version}/model.json",
        artifact_sha256="0" * 64,
        status=status,
        flow_run_id=None,
    )


@pytest.mark.unit
def test_comparison_table_sets_candidate_beside_champion():
    decision = PromotionDecision(False, "AUC 0.6900 below champion 0.7000", 0.69, 0.70)
    rows = {
        r["metric"]: (r["candidate"], r["champion"])
        for r in comparison_table(_model(), _entry("m-old", 0.70), decision)
    }
    assert rows == {
        "model version": ("(this run)", "m-old"),
        "validation AUC": ("0.6900", "0.7000"),
        "training rows": ("9,000", "8,000"),
        "validation rows": ("1,500", "same months"),
        "positive rate (validation)": ("0.073", NONE_SHOWN),
        "training cut-off": ("2026-08-01", "2026-07-01"),
        "decision": ("rejected", "keeps scoring"),
        "reason": ("AUC 0.6900 below champion 0.7000", ""),
    }


@pytest.mark.unit
def test_comparison_table_without_a_champion():
    decision = PromotionDecision(True, "no champion yet", 0.7123, None)
    rows = {
        r["metric"]: (r["candidate"], r["champion"])
        for r in comparison_table(_model(), None, decision)
    }
    assert rows["model version"] == ("(this run)", "none")
    assert rows["validation AUC"] == ("0.7123", NONE_SHOWN)
    assert rows["training rows"] == ("9,000", NONE_SHOWN)
    assert rows["training cut-off"] == ("2026-08-01", NONE_SHOWN)
    assert rows["decision"] == ("promoted to champion", "")
    assert rows["reason"] == ("no champion yet", "")


@pytest.mark.unit
def test_scoring_markdown_shows_aggregates_and_every_decile():
    report = ScoringReport(
        date(2026, 11, 20), "m-1", 0.7123, 200, STATS, "main.condition_scores", "duckdb"
    )
    text = scoring_markdown(report)
    assert text.startswith("# Condition scores for 2026-11-20\n")
    assert "| employees scored | 200 |" in text
    assert "| model | `m-1` (validation AUC 0.7123) |" in text
    assert "| median / p90 / p99 risk | 0.101 / 0.402 / 0.733 |" in text
    assert "| at or above 0.5 | 12 (6.0%) |" in text
    assert "| written to | `main.condition_scores` in duckdb |" in text
    assert "| 0.0 to 0.1 | 100 | 50.0% |" in text
    assert "| 0.9 to 1.0 | 1 | 0.5% |" in text
    assert "| reasons | none stored (reasons_top_share 0) |" in text


@pytest.mark.unit
def test_scoring_markdown_reasons_are_counts_per_feature():
    reasons = {"top_share": 0.1, "employees": 19, "first_reason": {"health_score": 12, "x": 7}}
    stats = {**STATS, "reasons": reasons}
    text = scoring_markdown(
        ScoringReport(date(2026, 11, 20), "m-1", 0.7, 200, stats, "main.condition_scores", "d")
    )
    assert "| reasons (`score_reasons`) | 19 employees in the top 10% of risk |" in text
    assert "| most frequent first reasons | `health_score` 12, `x` 7 |" in text
    assert text.count("\n| 0.") == 10  # one line per decile


@pytest.mark.unit
def test_scoring_markdown_without_auc_or_rows_does_not_divide_by_zero():
    empty = {**STATS, "rows": 0, "high_risk": 0, "histogram": [0] * 10}
    text = scoring_markdown(ScoringReport(date(2026, 11, 20), "m-1", None, 0, empty, "t", "w"))
    assert f"(validation AUC {NONE_SHOWN})" in text
    assert "| at or above 0.5 | 0 (0.0%) |" in text


async def _artifacts(flow_run_id) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


@pytest.mark.flow
def test_publishing_tasks_create_the_artifacts_and_reports(prefect_api, tmp_path):
    from prefect import flow  # here: the unit tests of this file need no Prefect

    from tasks.prefect_tasks.reporting import (
        publish_scoring_report_task,
        publish_training_report_task,
    )

    @flow(name="publish-reports")
    def publish():
        decision = PromotionDecision(True, "no champion yet", 0.7123, None)
        training = publish_training_report_task(_model(), _entry("m-new", 0.7123), None, decision)
        scores = ScoreFile(str(tmp_path / "s.parquet"), date(2026, 11, 20), "m-new", STATS)
        scoring = publish_scoring_report_task(scores, 200, _entry("m-new", 0.7123))
        return training, scoring

    state = publish(return_state=True)
    training, scoring = state.result()
    assert (training.model_version, training.status, training.n_train) == (
        "m-new",
        "champion",
        9000,
    )
    assert (scoring.rows, scoring.table, scoring.model_auc) == (
        200,
        "condition_scores",
        0.7123,
    )

    artifacts = asyncio.run(_artifacts(state.state_details.flow_run_id))
    comparison = artifacts["model-comparison"]
    assert comparison.type == "table"
    assert "m-new" in str(comparison.data)  # the candidate's version replaces "(this run)"
    assert comparison.description == "Candidate m-new (cut-off 2026-08-01): promoted to champion"
    summary = artifacts["scoring-summary"]
    assert summary.type == "markdown"
    assert summary.data == scoring_markdown(scoring)
    assert summary.description == "200 employees scored for 2026-11-20"
