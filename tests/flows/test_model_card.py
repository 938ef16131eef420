"""train-model publishes a model card whose numbers are the stored model's own metrics, and the
promotion gate rejects a candidate whose calibrated risk is off by more than the maximum."""

import asyncio
from datetime import date

import pytest
from prefect.client.orchestration import get_client

from flows.train import train_model
from tasks.model_store import load_model, model_store
from tasks.registry import list_models
from tasks.settings import get_settings
from tests.support.flow_checks import registry

pytestmark = pytest.mark.flow
DAY = date(2026, 11, 20)


async def _newest_card(flow_run_id):
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )
    from prefect.client.schemas.sorting import ArtifactSort

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["model-card"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            ),
            sort=ArtifactSort.CREATED_DESC,
        )
    assert len(found) == 1
    return found[0]


def cells(markdown: str, first_cell: str) -> list[str]:
    for line in markdown.splitlines():
        values = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and values[0] == first_cell:
            return values[1:]
    raise AssertionError(f"no row {first_cell!r} in the card")


@pytest.mark.long
def test_model_card_numbers_are_the_models_and_the_gate_checks_calibration(demo_warehouse):
    state = train_model(train_end_date=DAY, num_boost_round=60, return_state=True)
    report = state.result()
    assert report.status == "champion"
    (entry,) = list_models(demo_warehouse)
    model = load_model(model_store(get_settings()), entry.stored)
    metrics, calibration = model.metrics, model.metrics["calibration"]
    artifact = asyncio.run(_newest_card(state.state_details.flow_run_id))
    card = artifact.data
    assert artifact.description == f"Model {entry.model_version} (cut-off {DAY}): champion"
    assert card.startswith(f"# Model card: {entry.model_version}\n")
    assert cells(card, "AUC") == [f"{metrics['auc']:.4f}"] == [f"{report.auc:.4f}"]
    assert cells(card, "precision in the top 5%") == [f"{metrics['precision_top5']:.4f}"]
    assert cells(card, "precision in the top 10%") == [f"{metrics['precision_top10']:.4f}"]
    assert cells(card, "validation months") == [
        f"{metrics['valid_months'][0]} to {metrics['valid_months'][1]} "
        f"({metrics['n_valid']:,} rows)"
    ]
    assert cells(card, "Brier score") == [
        f"{calibration['before']['brier']:.4f}",
        f"{calibration['after']['brier']:.4f}",
    ]
    ece_before, ece_after = calibration["before"]["ece"], calibration["after"]["ece"]
    assert cells(card, "expected calibration error (10 bins)") == [
        f"{ece_before:.4f}",
        f"{ece_after:.4f}",
    ]
    assert ece_after <= 0.05
    for before, after in zip(
        calibration["before"]["table"], calibration["after"]["table"], strict=True
    ):
        assert cells(card, before["bin"])[0] == f"{before['n']:,}"
        assert cells(card, before["bin"])[3] == f"{after['n']:,}"
    assert sum(row["n"] for row in calibration["after"]["table"]) == metrics["n_valid"]
    gains = dict(
        zip(model.booster.feature_name(), model.booster.feature_importance("gain"), strict=True)
    )
    top = max(gains, key=lambda name: gains[name])
    assert cells(card, "1")[:2] == [top, f"{gains[top]:,.1f}"]
    risk = metrics["reference"]["risk_score"]
    assert cells(card, "risk_score")[0] == str(len(risk["edges"]) + 1)
    assert cells(card, "decision") == ["passed the gate: champion"]
    assert cells(card, "calibration error (ECE, after)") == [f"{ece_after:.4f}"]
    assert cells(card, "reason") == [
        f"no champion yet; AUC {metrics['auc']:.4f} clears the floor 0.7000; calibration error "
        f"(ECE) {ece_after:.4f} is within the maximum 0.0500"
    ]

    # The same data again: the same model (so its AUC equals the champion's), now judged with
    # a maximum calibration error below its own: rejected, and the card says why.
    strict = ece_after / 2
    state = train_model(
        train_end_date=DAY, num_boost_round=60, max_calibration_error=strict, return_state=True
    )
    rejected = state.result()
    assert rejected.status == "rejected"
    assert rejected.reason == (
        f"AUC {metrics['auc']:.4f} vs champion {metrics['auc']:.4f} is within tolerance, but "
        f"the calibration error (ECE) {ece_after:.4f} is above the maximum {strict:.4f}"
    )
    card = asyncio.run(_newest_card(state.state_details.flow_run_id)).data
    assert cells(card, "decision") == ["rejected"]
    assert cells(card, "reason") == [rejected.reason]
    assert sorted(registry(demo_warehouse).values()) == ["champion", "rejected"]
