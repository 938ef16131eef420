"""The model_registry table: which model versions exist and which one is the champion.

Invariant: exactly one row has status 'champion'. A candidate is inserted with its final
status ('champion' or 'rejected') in the same transaction that retires the previous champion,
and only after its artifact is safely stored, so no row ever points at a missing artifact and
a crash leaves at most an unreferenced artifact behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.errors import NoChampionError, PulsewatchError
from tasks.model import PulseModel
from tasks.model_store import StoredModel
from tasks.promotion import PromotionDecision, PromotionPolicy, decide
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings
from tasks.warehouse import Transaction, Warehouse, friendly_errors, open_warehouse

REGISTRY_LOCK = "champion"


@dataclass(frozen=True)
class RegistryEntry:
    model_version: str
    trained_at: datetime
    train_end_date: date
    n_train: int
    auc: float | None
    params: str
    artifact_uri: str
    artifact_sha256: str
    status: str
    flow_run_id: str | None

    @property
    def stored(self) -> StoredModel:
        return StoredModel(self.model_version, self.artifact_uri, self.artifact_sha256)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> RegistryEntry:
        values = dict(row)
        values["train_end_date"] = pd.Timestamp(values["train_end_date"]).date()
        values["trained_at"] = pd.Timestamp(values["trained_at"]).to_pydatetime()
        values["n_train"] = int(values["n_train"])
        values["auc"] = None if values["auc"] is None else float(values["auc"])
        return cls(**values)


def ensure_result_tables(warehouse: Warehouse) -> None:
    """Create condition_scores and model_registry if they do not exist (idempotent)."""
    with friendly_errors("create result tables"), warehouse.transaction() as tx:
        tx.ensure_schema()
        tx.execute_script("create_result_tables")


def _champion(source: Warehouse | Transaction) -> RegistryEntry | None:
    """The champion's row (read on its own, or inside the caller's transaction)."""
    rows = source.fetch("registry_champions")
    if len(rows) > 1:
        versions = ", ".join(sorted(r["model_version"] for r in rows))
        raise PulsewatchError(f"model_registry has {len(rows)} champions ({versions}); keep one")
    return RegistryEntry.from_row(rows[0]) if rows else None


def read_champion(warehouse: Warehouse) -> RegistryEntry | None:
    with friendly_errors("read model_registry"):
        return _champion(warehouse)


def training_needed(
    champion: RegistryEntry | None, score_date: date, max_age_days: int
) -> tuple[bool, str]:
    """Train when there is no champion or its training cut-off is older than `max_age_days`
    before the score date. (A champion trained after the score date, as in a backfill of
    past dates, is used as it is.)"""
    if champion is None:
        return True, "no champion model yet"
    age = score_date - champion.train_end_date
    if age > timedelta(days=max_age_days):
        return (
            True,
            f"champion {champion.model_version} is {age.days} days old (max {max_age_days})",
        )
    return False, f"champion {champion.model_version} is fresh ({max(age.days, 0)} days old)"


def record_model(
    warehouse: Warehouse,
    stored: StoredModel,
    model: PulseModel,
    decision: PromotionDecision,
    expected_champion: str | None,
    flow_run_id: str | None,
) -> RegistryEntry:
    """Insert the candidate with its final status; retire the old champion if promoted."""
    entry = RegistryEntry(
        model_version=stored.version,
        trained_at=datetime.now(UTC).replace(tzinfo=None),
        train_end_date=date.fromisoformat(model.metrics["train_end_date"]),
        n_train=int(model.metrics["n_train"]),
        auc=float(decision.candidate_auc),
        params=json.dumps(model.params, sort_keys=True),
        artifact_uri=stored.uri,
        artifact_sha256=stored.sha256,
        status=decision.status,
        flow_run_id=flow_run_id,
    )
    with friendly_errors("write model_registry"), warehouse.transaction() as tx:
        tx.lock_partition("model_registry", REGISTRY_LOCK)
        current = _champion(tx)
        current_version = current.model_version if current else None
        if current_version != expected_champion:
            raise PulsewatchError(
                f"the champion changed to {current_version} while {stored.version} was being "
                "trained; run training again"
            )
        if decision.promote and current is not None:
            tx.execute("registry_retire_champion")
        tx.execute("registry_insert", entry.__dict__)
    return entry


@task(name="ensure-result-tables", **IO_RETRIES)
def ensure_result_tables_task() -> None:
    with open_warehouse(get_settings()) as warehouse:
        ensure_result_tables(warehouse)


@task(name="read-champion", cache_policy=NONE, **IO_RETRIES)
def read_champion_task() -> RegistryEntry | None:
    with open_warehouse(get_settings()) as warehouse:
        return read_champion(warehouse)


@task(name="promote-or-reject", cache_policy=NONE, **IO_RETRIES)
def promote_or_reject_task(
    stored: StoredModel,
    model: PulseModel,
    champion: RegistryEntry | None,
    champion_auc: float | None,
    policy: PromotionPolicy,
) -> tuple[RegistryEntry, PromotionDecision]:
    """Apply the promotion gate and record the candidate with its final status."""
    from prefect.runtime import flow_run

    decision = decide(model.metrics["auc"], champion_auc, policy)
    expected_champion = champion.model_version if champion else None
    with open_warehouse(get_settings()) as warehouse:
        entry = record_model(warehouse, stored, model, decision, expected_champion, flow_run.id)
    logger = get_run_logger()
    if decision.promote:
        logger.info("Model %s is the new champion: %s", entry.model_version, decision.reason)
    else:
        logger.warning("Model %s rejected: %s", entry.model_version, decision.reason)
    return entry, decision


@task(name="check-champion-freshness", cache_policy=NONE, **IO_RETRIES)
def training_needed_task(score_date: date, max_model_age_days: int, force: bool) -> bool:
    with open_warehouse(get_settings()) as warehouse:
        champion = read_champion(warehouse)
    needed, reason = training_needed(champion, score_date, max_model_age_days)
    if force:
        needed, reason = True, "training forced by parameter"
    get_run_logger().info("%s: %s", "Training" if needed else "Skipping training", reason)
    return needed


@task(name="require-champion", cache_policy=NONE, **IO_RETRIES)
def require_champion_task() -> RegistryEntry:
    with open_warehouse(get_settings()) as warehouse:
        champion = read_champion(warehouse)
    if champion is None:
        raise NoChampionError(
            "no champion model in model_registry: run `pulsewatch train` "
            "(or `pulsewatch run`) first"
        )
    return champion
