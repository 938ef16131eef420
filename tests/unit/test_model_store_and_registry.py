from datetime import date, datetime

import pytest
import sqlalchemy as sa

from tasks.errors import ModelStoreError, PulsewatchError
from tasks.model_store import LocalModelStore, load_model, save_model
from tasks.promotion import PromotionPolicy, decide
from tasks.registry import (
    RegistryEntry,
    ensure_result_tables,
    read_champion,
    record_model,
    training_needed,
)
from tasks.training import TrainingConfig, fit_model

pytestmark = pytest.mark.unit


@pytest.fixture
def tiny_model(demo_duck):
    from tasks.features import TrainingWindow, extract_training_frame

    frame = extract_training_frame(demo_duck, TrainingWindow.ending(date(2026, 11, 20), 10))
    return fit_model(frame, TrainingConfig(num_boost_round=10), date(2026, 11, 20))


def test_artifact_round_trip_and_checksum(tmp_path, tiny_model):
    store = LocalModelStore(tmp_path / "models")
    saved = save_model(store, tiny_model, "m1")
    assert load_model(store, saved).booster.num_trees() == 10
    with open(saved.uri, "r+b") as handle:  # flip one byte
        handle.seek(40)
        byte = handle.read(1)
        handle.seek(40)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ModelStoreError, match=r"^model m1: checksum mismatch for .*model.json"):
        load_model(store, saved)


def test_missing_artifact_names_the_uri(tmp_path, tiny_model):
    store = LocalModelStore(tmp_path / "models")
    saved = save_model(store, tiny_model, "m1")
    (tmp_path / "models" / "m1" / "model.json").unlink()
    with pytest.raises(ModelStoreError, match="is missing"):
        load_model(store, saved)


def test_exactly_one_champion_through_promotions(demo_duck, tmp_path, tiny_model):
    ensure_result_tables(demo_duck)
    store = LocalModelStore(tmp_path / "models")
    policy = PromotionPolicy(auc_floor=0.5, max_auc_drop=0.02)

    first = record_model(
        demo_duck,
        save_model(store, tiny_model, "m1"),
        tiny_model,
        decide(0.80, None, policy),
        None,
        "run-1",
    )
    assert first.status == "champion"
    second = record_model(
        demo_duck,
        save_model(store, tiny_model, "m2"),
        tiny_model,
        decide(0.81, 0.80, policy),
        "m1",
        "run-2",
    )
    assert second.status == "champion"
    third = record_model(
        demo_duck,
        save_model(store, tiny_model, "m3"),
        tiny_model,
        decide(0.60, 0.81, policy),
        "m2",
        "run-3",
    )
    assert third.status == "rejected"

    champion = read_champion(demo_duck)
    assert champion.model_version == "m2" and champion.flow_run_id == "run-2"
    with demo_duck.engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT model_version, status FROM model_registry")).all())
    assert rows == {"m1": "retired", "m2": "champion", "m3": "rejected"}


def test_champion_changed_during_training_is_refused(demo_duck, tmp_path, tiny_model):
    ensure_result_tables(demo_duck)
    store = LocalModelStore(tmp_path / "models")
    policy = PromotionPolicy(auc_floor=0.5)
    record_model(
        demo_duck,
        save_model(store, tiny_model, "m1"),
        tiny_model,
        decide(0.8, None, policy),
        None,
        None,
    )
    with pytest.raises(PulsewatchError, match="champion changed to m1"):
        record_model(
            demo_duck,
            save_model(store, tiny_model, "m2"),
            tiny_model,
            decide(0.8, None, policy),
            None,
            None,
        )


def entry(train_end: date) -> RegistryEntry:
    return RegistryEntry(
        "m1", datetime(2026, 1, 1), train_end, 10, 0.8, "{}", "u", "s", "champion", None
    )


def test_training_needed_rules():
    assert training_needed(None, date(2026, 11, 20), 8) == (True, "no champion model yet")
    stale, reason = training_needed(entry(date(2026, 11, 1)), date(2026, 11, 20), 8)
    assert stale and "19 days old" in reason
    assert not training_needed(entry(date(2026, 11, 15)), date(2026, 11, 20), 8)[0]
    # a backfill of an earlier date uses the newer champion as it is
    assert not training_needed(entry(date(2026, 11, 15)), date(2026, 6, 1), 8)[0]
