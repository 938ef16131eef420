"""Scenarios 3, 4 and 6: a training process killed between storing the artifact and
registering it; a corrupt or missing champion artifact; a candidate that must not ship."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

import tasks.features
from flows.nightly import nightly_pipeline
from flows.score import score_population
from flows.train import train_model
from tasks.dates import add_months
from tasks.demo_data import write_demo_data
from tasks.errors import ModelStoreError
from tasks.model_store import sha256
from tests.conftest import SMALL_DEMO
from tests.support.flow_checks import active_employees, registry, risk_by_employee, score_rows

DAY = date(2026, 11, 20)
NEXT_DAY = date(2026, 11, 21)

# Runs the real train flow in a child process that SIGKILLs itself at the exact point between
# save-model (artifact written) and the registry insert inside promote-or-reject.
CRASH_AFTER_SAVE = """
import os, signal, sys
from datetime import date
import tasks.registry

def killed(*args, **kwargs):
    sys.stdout.write("artifact stored; killing the process before the registry row\\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

tasks.registry.record_model = killed
from flows.train import train_model
train_model(train_end_date=date(2026, 11, 20))
"""


def _artifacts_on_disk(store: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in store.glob("*/model.json")}


def _registry_rows(warehouse) -> list[dict]:
    query = (
        "SELECT model_version, artifact_uri, artifact_sha256, status FROM "
        f"{warehouse.qualified('model_registry')}"
    )
    with warehouse.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(query)).mappings()]


def _every_row_points_to_its_artifact(warehouse) -> None:
    for row in _registry_rows(warehouse):
        payload = Path(row["artifact_uri"]).read_bytes()  # exists
        assert sha256(payload) == row["artifact_sha256"], row["model_version"]


@pytest.mark.integration
def test_training_killed_before_registration_leaves_no_dangling_row(pg, prefect_api, tmp_path):
    write_demo_data(pg, SMALL_DEMO)
    champion = train_model(train_end_date=DAY).model_version
    store = tmp_path / "models"
    assert set(_artifacts_on_disk(store)) == {champion}

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    child = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_SAVE],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert "artifact stored; killing" in child.stdout
    orphans = set(_artifacts_on_disk(store)) - {champion}
    assert len(orphans) == 1  # the artifact was written...
    orphan = orphans.pop()
    assert registry(pg) == {champion: "champion"}  # ...but no row points to it
    _every_row_points_to_its_artifact(pg)

    # The next nightly run recovers on its own: it scores with the registered champion and a
    # forced retrain registers a new candidate; the orphan never becomes champion.
    report = nightly_pipeline(score_date=DAY, force_train=True)
    assert report.training is not None and report.training.model_version != orphan
    statuses = registry(pg)
    assert orphan not in statuses
    assert list(statuses.values()).count("champion") == 1
    assert report.scoring.model_version in statuses
    assert statuses[report.scoring.model_version] == "champion"
    _every_row_points_to_its_artifact(pg)
    active = active_employees(pg, DAY)
    assert score_rows(pg, DAY) == (active, active)


@pytest.mark.flow
@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_damaged_champion_artifact_fails_scoring_and_keeps_yesterday(
    demo_duck, prefect_api, tmp_path, damage
):
    first = nightly_pipeline(score_date=DAY)
    version = first.scoring.model_version
    before = risk_by_employee(demo_duck, DAY)
    artifact = tmp_path / "models" / version / "model.json"
    if damage == "corrupt":
        artifact.write_bytes(artifact.read_bytes()[:-50] + b"x" * 50)
        pattern = rf"^model {version}: checksum mismatch for .*model\.json \(registry [0-9a-f]{{12}}, artifact [0-9a-f]{{12}}\)$"
    else:
        artifact.unlink()
        pattern = rf"^model artifact .*{version}/model\.json is missing$"
    with pytest.raises(ModelStoreError, match=pattern):
        score_population(score_date=NEXT_DAY)
    assert risk_by_employee(demo_duck, DAY) == before  # the previous day is untouched
    assert score_rows(demo_duck, NEXT_DAY) == (0, 0)  # and nothing half-written


def _shuffle_training_labels(real):
    """Wrap stream_training_frames: labels of the training months are shuffled within each
    batch (a label bug upstream), the validation months keep their true labels."""

    def stream(warehouse, window, *args):
        rng = np.random.default_rng(0)
        cut = np.datetime64(add_months(window.last_month, -2))
        for frame in real(warehouse, window, *args):
            frame = frame.copy()
            train = pd.to_datetime(frame["feature_month"]).to_numpy() < cut
            frame.loc[train, "label"] = rng.permutation(frame.loc[train, "label"].to_numpy())
            yield frame

    return stream


async def _logs_and_artifacts(flow_run_id):
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return logs, artifacts


@pytest.mark.flow
def test_candidate_trained_on_shuffled_labels_is_rejected(demo_duck, prefect_api, monkeypatch):
    champion = train_model(train_end_date=DAY)
    assert champion.status == "champion" and champion.auc > 0.75
    work = Path(os.environ["PULSEWATCH_WORK_DIR"])
    assert work.is_dir() and not list(work.glob("training-*"))  # the spill is removed
    monkeypatch.setattr(
        tasks.features,
        "stream_training_frames",
        _shuffle_training_labels(tasks.features.stream_training_frames),
    )
    state = train_model(train_end_date=DAY, auc_floor=0.0, return_state=True)
    candidate = state.result()
    assert candidate.status == "rejected"
    assert candidate.auc < 0.6 < champion.auc
    assert "below the champion's" in candidate.reason
    assert registry(demo_duck) == {
        champion.model_version: "champion",
        candidate.model_version: "rejected",
    }
    scoring = score_population(score_date=DAY)  # the champion keeps scoring
    assert scoring.model_version == champion.model_version

    warned = False
    for _ in range(50):  # logs reach the API in background batches
        logs, artifacts = asyncio.run(_logs_and_artifacts(state.state_details.flow_run_id))
        warnings = [log.message for log in logs if log.level >= 30]
        warned = any(
            m.startswith("Candidate rejected; the champion keeps scoring: AUC") for m in warnings
        )
        if warned:
            break
        time.sleep(0.2)
    assert warned, warnings
    comparison = [a for a in artifacts if a.key == "model-comparison"]
    assert len(comparison) == 1
    table = str(comparison[0].data)
    assert candidate.model_version in table and "rejected" in table
    assert f"{candidate.champion_auc:.4f}" in table


PAST = date(2026, 6, 15)  # feature month 2026-05, whose labels (2026-06) the champion learned


def _realized_auc(warehouse, day: date) -> tuple[float, int]:
    """AUC of the scores stored for `day` against what happened (the label rule of
    training_frame.sql for the date's feature month), and how many scored employees it covers."""
    from sklearn.metrics import roc_auc_score

    from tasks.dates import TrainingWindow, feature_month_for
    from tasks.features import extract_training_frame

    month = feature_month_for(day)
    window = TrainingWindow.ending(add_months(month, 2), 2)  # labelled months ending at `month`
    frame = extract_training_frame(warehouse, window)
    frame = frame[pd.to_datetime(frame["feature_month"]).dt.date == month]
    labels = dict(zip(frame["employee_id"].astype(int), frame["label"].astype(int), strict=True))
    risk = risk_by_employee(warehouse, day)
    both = sorted(set(labels) & set(risk))
    auc = roc_auc_score([labels[e] for e in both], [risk[e] for e in both])
    return float(auc), len(both)


@pytest.mark.flow
def test_past_date_is_never_scored_by_a_model_trained_on_its_future(demo_duck, prefect_api):
    """A champion whose cut-off is after the score date learned that date's outcomes: it is
    refused there; the nightly run trains as of the date instead (a challenger), whose realized
    AUC on that date is in line with its out-of-sample validation AUC."""
    from tasks.errors import NoChampionError
    from tasks.feature_store import stream_scoring_frames
    from tasks.model_store import load_model, model_store
    from tasks.registry import read_champion
    from tasks.settings import get_settings

    champion = train_model(train_end_date=DAY)
    with pytest.raises(NoChampionError) as refused:
        score_population(score_date=PAST)
    assert str(refused.value).startswith(
        f"no model may score {PAST}: the champion {champion.model_version} learned from data up "
        f"to {DAY} and no model trained as of {PAST} or earlier is registered; train one with "
        f"`pulsewatch train --date {PAST}`"
    )
    assert score_rows(demo_duck, PAST) == (0, 0)

    report = nightly_pipeline(score_date=PAST)  # what `pulsewatch run/backfill` does for it
    assert report.training is not None and report.training.status == "challenger"
    as_of = report.training.model_version
    assert report.scoring.model_version == as_of
    assert registry(demo_duck) == {champion.model_version: "champion", as_of: "challenger"}
    active = active_employees(demo_duck, PAST)
    assert score_rows(demo_duck, PAST) == (active, active)
    realized, n = _realized_auc(demo_duck, PAST)
    assert n > 400

    # What the future champion would have scored (the old behaviour): visibly inflated.
    entry = read_champion(demo_duck)
    future = load_model(model_store(get_settings()), entry.stored)
    frames = list(stream_scoring_frames(demo_duck, PAST, 100_000))
    ids = np.concatenate([f["employee_id"].to_numpy() for f in frames])
    risk = np.concatenate([future.predict(f) for f in frames])
    with demo_duck.engine.begin() as conn:
        for employee, value in zip(ids.tolist(), risk.tolist(), strict=True):
            conn.execute(
                sa.text(
                    "UPDATE condition_scores SET risk_score = :r "
                    "WHERE score_date = :d AND employee_id = :e"
                ),
                {"r": value, "d": PAST, "e": employee},
            )
    inflated, _ = _realized_auc(demo_duck, PAST)
    print(
        f"realized AUC on {PAST}: as-of model {realized:.3f} (validation "
        f"{report.training.auc:.3f}), future champion {inflated:.3f}"
    )
    assert abs(realized - report.training.auc) < 0.06  # in line with out-of-sample
    assert inflated > realized + 0.04  # the champion knew the answers


@pytest.mark.flow
@pytest.mark.parametrize("damage", ["one byte appended", "deleted"])
def test_damaged_champion_does_not_block_retraining(demo_duck, prefect_api, tmp_path, damage):
    """Training with an unusable champion gates the candidate on the floor alone, says why in a
    warning, and the promoted candidate replaces the damaged champion."""
    old = train_model(train_end_date=DAY).model_version
    artifact = tmp_path / "models" / old / "model.json"
    if damage == "deleted":
        artifact.unlink()
        why = rf"the champion {old} is unusable \(model artifact .*{old}/model\.json is missing\)"
    else:
        artifact.write_bytes(artifact.read_bytes() + b"x")
        why = rf"the champion {old} is unusable \(model {old}: checksum mismatch for .*\)"
    state = train_model(train_end_date=DAY, return_state=True)
    report = state.result()
    assert report.status == "champion"
    assert re.fullmatch(
        why + r"; AUC 0\.\d{4} clears the floor 0\.7000; calibration error \(ECE\) 0\.\d{4} is "
        r"within the maximum 0\.0500",
        report.reason,
    )
    assert registry(demo_duck) == {old: "retired", report.model_version: "champion"}
    assert score_population(score_date=NEXT_DAY).model_version == report.model_version
    warnings: list[str] = []
    for _ in range(50):  # logs reach the API in background batches
        logs, _ = asyncio.run(_logs_and_artifacts(state.state_details.flow_run_id))
        warnings = [log.message for log in logs if log.level >= 30]
        if any(
            re.fullmatch(why + ": the candidate is gated on the AUC floor alone", w)
            for w in warnings
        ):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(warnings)
