import copy
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from tasks.errors import ModelStoreError, PulsewatchError
from tasks.model_store import LocalModelStore, load_model, save_model
from tasks.promotion import PromotionPolicy, decide
from tasks.registry import (
    HISTORY_COLUMNS,
    RegistryEntry,
    ensure_result_tables,
    list_models,
    migrate_registry,
    model_for_date,
    no_model_message,
    promote_model,
    read_champion,
    record_model,
    retire_model,
    training_needed,
)
from tasks.training import TrainingConfig, fit_model
from tests.conftest import SMALL_DEMO, copy_demo
from tests.support.flow_checks import registry

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def tiny_model(demo_file, tmp_path_factory):
    """A 10-round model on SMALL_DEMO, fitted once for the module: tests only read it (a test
    that relabels it takes a copy, `as_of`)."""
    from tasks.features import TrainingWindow, extract_training_frame

    with copy_demo(demo_file, SMALL_DEMO, tmp_path_factory.mktemp("registry")) as warehouse:
        frame = extract_training_frame(warehouse, TrainingWindow.ending(date(2026, 11, 20), 10))
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
    assert training_needed(None, date(2026, 11, 20), 8) == (
        True,
        "no model may score 2026-11-20 yet (none trained as of it or earlier)",
    )
    stale, reason = training_needed(entry(date(2026, 11, 1)), date(2026, 11, 20), 8)
    assert stale and reason == "champion m1 is 19 days old (max 8)"
    assert not training_needed(entry(date(2026, 11, 15)), date(2026, 11, 20), 8)[0]


def as_of(model, day: date):
    """The same fitted model, labelled as trained with cut-off `day`."""
    twin = copy.copy(model)
    twin.metrics = {**model.metrics, "train_end_date": day.isoformat()}
    return twin


def test_no_model_scores_its_own_past(demo_duck, tmp_path, tiny_model):
    """A date before the champion's cut-off gets a model trained as of it or earlier, or none."""
    ensure_result_tables(demo_duck)
    store = LocalModelStore(tmp_path / "models")
    policy = PromotionPolicy(auc_floor=0.5)
    champion = record_model(
        demo_duck, save_model(store, tiny_model, "m1"), tiny_model, decide(0.8, None, policy),
        None, None,
    )  # fmt: skip
    assert champion.train_end_date == date(2026, 11, 20) and champion.promoted_at is not None
    assert model_for_date(demo_duck, date(2026, 11, 20)).model_version == "m1"
    assert model_for_date(demo_duck, date(2026, 6, 1)) is None  # the champion knows its future
    message = no_model_message(read_champion(demo_duck), date(2026, 6, 1))
    assert message.startswith(
        "no model may score 2026-06-01: the champion m1 learned from data up to 2026-11-20"
    )
    assert "`pulsewatch train --date 2026-06-01`" in message

    june = as_of(tiny_model, date(2026, 6, 1))
    challenger = record_model(
        demo_duck, save_model(store, june, "m2"), june, decide(0.75, None, policy), "m1", None
    )
    assert challenger.status == "challenger" and challenger.promoted_at is None
    assert read_champion(demo_duck).model_version == "m1"  # the champion stays
    assert model_for_date(demo_duck, date(2026, 6, 1)).model_version == "m2"
    assert model_for_date(demo_duck, date(2026, 8, 31)).model_version == "m2"
    assert model_for_date(demo_duck, date(2026, 5, 31)) is None
    assert model_for_date(demo_duck, date(2026, 11, 21)).model_version == "m1"

    # a newer champion: the one it replaced still serves the dates from its own cut-off on
    december = as_of(tiny_model, date(2026, 12, 3))
    record_model(
        demo_duck, save_model(store, december, "m3"), december, decide(0.8, 0.8, policy),
        "m1", None,
    )  # fmt: skip
    statuses = {e.model_version: e for e in list_models(demo_duck)}
    assert statuses["m1"].status == "retired" and statuses["m1"].replaced_by == "m3"
    assert statuses["m1"].retired_at is not None
    assert model_for_date(demo_duck, date(2026, 11, 25)).model_version == "m1"
    assert model_for_date(demo_duck, date(2026, 12, 3)).model_version == "m3"
    # retired by hand: it scores no date again
    retire_model(demo_duck, "m1")
    assert model_for_date(demo_duck, date(2026, 11, 25)).model_version == "m2"


def test_promote_and_retire_keep_at_most_one_champion(demo_duck, tmp_path, tiny_model):
    ensure_result_tables(demo_duck)
    store = LocalModelStore(tmp_path / "models")
    policy = PromotionPolicy(auc_floor=0.5)
    record_model(
        demo_duck, save_model(store, tiny_model, "m1"), tiny_model, decide(0.8, None, policy),
        None, None,
    )  # fmt: skip
    record_model(
        demo_duck, save_model(store, tiny_model, "m2"), tiny_model, decide(0.6, 0.8, policy),
        "m1", None,
    )  # fmt: skip
    checked = []
    promoted, previous = promote_model(demo_duck, "m2", checked.append)
    assert [e.model_version for e in checked] == ["m2"]
    assert (promoted.status, previous.model_version) == ("champion", "m1")
    assert registry(demo_duck) == {"m1": "retired", "m2": "champion"}

    def damaged(entry):
        raise ModelStoreError(f"model {entry.model_version}: checksum mismatch")

    with pytest.raises(ModelStoreError, match="m1: checksum mismatch"):
        promote_model(demo_duck, "m1", damaged)
    assert registry(demo_duck) == {"m1": "retired", "m2": "champion"}  # rolled back
    with pytest.raises(PulsewatchError, match=r"^model m2 is already the champion$"):
        promote_model(demo_duck, "m2", checked.append)
    with pytest.raises(PulsewatchError, match=r"^model m9 is not in model_registry"):
        retire_model(demo_duck, "m9")
    assert retire_model(demo_duck, "m2").status == "retired"
    assert read_champion(demo_duck) is None
    with pytest.raises(PulsewatchError, match=r"^model m2 is already retired$"):
        retire_model(demo_duck, "m2")


OLD_REGISTRY = """CREATE TABLE model_registry (
    model_version VARCHAR(64) NOT NULL, trained_at TIMESTAMP NOT NULL,
    train_end_date DATE NOT NULL, n_train BIGINT NOT NULL, auc DOUBLE PRECISION,
    params VARCHAR(4096) NOT NULL, artifact_uri VARCHAR(1024) NOT NULL,
    artifact_sha256 VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL,
    flow_run_id VARCHAR(64), PRIMARY KEY (model_version))"""


@pytest.mark.parametrize(
    "kind", ["duckdb", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def test_registry_migration_is_idempotent(kind, request):
    """A model_registry created before the history columns gains them, rows kept; twice is
    the same as once."""
    warehouse = request.getfixturevalue("duck" if kind == "duckdb" else "pg")
    table = warehouse.qualified("model_registry")
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        if warehouse.schema:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {warehouse.schema}"))
        conn.execute(sa.text(OLD_REGISTRY.replace("model_registry", table)))
        for version, status in (("m1", "retired"), ("m2", "champion"), ("m3", "rejected")):
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} VALUES (:v, TIMESTAMP '2026-11-0{version[1]} 03:00:00', "
                    "DATE '2026-11-01', 10, 0.8, '{}', 'u', 's', :s, NULL)"
                ),
                {"v": version, "s": status},
            )
    assert not warehouse.column_exists("model_registry", "promoted_at")
    ensure_result_tables(warehouse)
    ensure_result_tables(warehouse)
    assert all(warehouse.column_exists("model_registry", c) for c in HISTORY_COLUMNS)
    rows = {e.model_version: e for e in list_models(warehouse)}
    assert rows["m2"].status == "champion"
    assert rows["m2"].promoted_at == datetime(2026, 11, 2, 3)
    assert rows["m1"].promoted_at == datetime(2026, 11, 1, 3) and rows["m1"].replaced_by is None
    assert rows["m3"].promoted_at is None
    assert migrate_registry(warehouse) == []


@pytest.mark.cli
def test_models_commands_through_the_console_script(demo_duck, tmp_path, tiny_model):
    """`pulsewatch models list | promote | retire` on the configured warehouse and store."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    cli = str(Path(sys.executable).with_name("pulsewatch"))

    def pulsewatch(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [cli, "models", *args], capture_output=True, text=True, timeout=120, env=os.environ
        )

    ensure_result_tables(demo_duck)
    store = LocalModelStore(tmp_path / "models")  # PULSEWATCH_MODEL_STORE
    policy = PromotionPolicy(auc_floor=0.5)
    for version, auc, expected in (("m1", 0.8, None), ("m2", 0.6, "m1")):
        champion_auc = None if expected is None else 0.8
        record_model(
            demo_duck, save_model(store, tiny_model, version), tiny_model,
            decide(auc, champion_auc, policy), expected, None,
        )  # fmt: skip

    def statuses() -> dict[str, str]:
        try:
            return registry(demo_duck)
        finally:
            demo_duck.close()  # DuckDB: one process per file; the command opens it next

    demo_duck.close()

    listed = pulsewatch("list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "model_version", "status", "cut-off", "auc", "trained_at", "promoted_at", "retired_at"
    ]  # fmt: skip
    assert [line.split()[:4] for line in lines[1:]] == [
        ["m2", "rejected", "2026-11-20", "0.6000"],
        ["m1", "champion", "2026-11-20", "0.8000"],
    ]

    artifact = tmp_path / "models" / "m2" / "model.json"
    artifact.write_bytes(artifact.read_bytes() + b"x")
    refused = pulsewatch("promote", "m2")
    assert refused.returncode == 2
    assert refused.stderr.startswith("pulsewatch: model m2: checksum mismatch for ")
    assert len(refused.stderr.splitlines()) == 1
    assert statuses() == {"m1": "champion", "m2": "rejected"}
    artifact.write_bytes(artifact.read_bytes()[:-1])

    promoted = pulsewatch("promote", "m2")
    assert promoted.stdout == "promoted  m2 (cut-off 2026-11-20) to champion; m1 retired\n"
    assert statuses() == {"m1": "retired", "m2": "champion"}

    retired = pulsewatch("retire", "m2")
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.splitlines() == [
        "retired   m2: it scores no date again",
        "champion  none now: the next `pulsewatch run` or `pulsewatch train` trains one "
        "(gated on the AUC floor alone), or `pulsewatch models promote VERSION`",
    ]
    assert statuses() == {"m1": "retired", "m2": "retired"}


def test_models_list_names_the_successor_of_a_retired_champion():
    from tasks.registry_cli import format_models

    old = RegistryEntry(
        "m1", datetime(2026, 11, 1, 3), date(2026, 11, 1), 10, 0.8, "{}", "u", "s", "retired",
        None, datetime(2026, 11, 1, 3), datetime(2026, 11, 20, 4, 5), "m2",
    )  # fmt: skip
    assert format_models([old]) == [
        "model_version  status                    cut-off     auc     trained_at        "
        "promoted_at       retired_at",
        "m1             retired (replaced by m2)  2026-11-01  0.8000  2026-11-01 03:00  "
        "2026-11-01 03:00  2026-11-20 04:05",
    ]
