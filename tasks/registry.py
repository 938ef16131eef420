"""The model_registry table: which model versions exist, which one is the champion, and which
model may score a given date.

Invariant: at most one row has status 'champion' (none only before the first training, or
after the champion was retired by hand). A candidate is inserted with its final status
('champion', 'challenger' or 'rejected') in the same transaction that retires the previous
champion, and only after its artifact is safely stored, so no row ever points at a missing
artifact and a crash leaves at most an unreferenced artifact behind.

No model scores its own past: a score date D is scored only by a model whose train_end_date
<= D (model_for_date). The champion serves every date from its cut-off on; an earlier date is
served by the freshest model that passed the gate with a cut-off on or before it (a champion
it replaced, or a challenger: a model trained as of a past date while a champion with a later
cut-off existed), or refused. promoted_at / retired_at / replaced_by keep that history.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from tasks.errors import PulsewatchError
from tasks.model_store import StoredModel
from tasks.promotion import PromotionDecision
from tasks.warehouse import Transaction, Warehouse, friendly_errors

if TYPE_CHECKING:  # `pulsewatch models` reads the registry without importing LightGBM
    from tasks.model import PulseModel

REGISTRY_LOCK = "champion"
REGISTRY_COLUMNS = (
    "model_version, trained_at, train_end_date, n_train, auc, params, artifact_uri, "
    "artifact_sha256, status, flow_run_id, promoted_at, retired_at, replaced_by"
)
# Columns added after the first release: migrated in place (ensure_result_tables).
HISTORY_COLUMNS = {
    "promoted_at": "TIMESTAMP",
    "retired_at": "TIMESTAMP",
    "replaced_by": "VARCHAR(64)",
}


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
    promoted_at: datetime | None = None
    retired_at: datetime | None = None
    replaced_by: str | None = None

    @property
    def role(self) -> str:
        """How messages name it: "champion", or e.g. "challenger model"."""
        return "champion" if self.status == "champion" else f"{self.status} model"

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
        for column in ("promoted_at", "retired_at"):
            value = values.get(column)
            values[column] = None if value is None or pd.isna(value) else _timestamp(value)
        return cls(**values)


def _timestamp(value: Any) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_result_tables(warehouse: Warehouse) -> None:
    """Create the result tables if they do not exist (and the latest_condition_scores view),
    and add the history columns to a model_registry created before them (idempotent)."""
    migrate_latest_view(warehouse)
    with friendly_errors("create result tables"), warehouse.transaction() as tx:
        tx.ensure_schema()
        tx.execute_script("create_result_tables")
    migrate_registry(warehouse)


def migrate_latest_view(warehouse: Warehouse) -> bool:
    """Drop a latest_condition_scores view from before its reasons columns, so that
    create_result_tables.sql creates it anew (Redshift's CREATE OR REPLACE VIEW cannot add
    columns). Grants on the old view go with it. Returns whether it was dropped."""
    view = "latest_condition_scores"
    if not warehouse.table_exists(view) or warehouse.column_exists(view, "reason_1"):
        return False
    with friendly_errors(f"migrate {view}"), warehouse.transaction() as tx:
        tx.execute("latest_view_drop")
    return True


def migrate_registry(warehouse: Warehouse) -> list[str]:
    """Add each missing HISTORY_COLUMNS column (probed first: Redshift has no ADD COLUMN IF NOT
    EXISTS); returns the columns added. Two processes migrating at once: the loser's ALTER
    fails, the column is there, and that is fine."""
    added = []
    for column, column_type in HISTORY_COLUMNS.items():
        if warehouse.column_exists("model_registry", column):
            continue
        try:
            with friendly_errors("migrate model_registry"), warehouse.transaction() as tx:
                tx.execute("registry_add_column", column=column, column_type=column_type)
                if column == "promoted_at":
                    tx.execute("registry_backfill_promoted")
        except Exception:
            if not warehouse.column_exists("model_registry", column):
                raise
            continue
        added.append(column)
    return added


def _rows(
    source: Warehouse | Transaction, name: str, params: Mapping[str, Any] | None = None
) -> list[RegistryEntry]:
    rows = source.fetch(name, params, registry_columns=REGISTRY_COLUMNS)
    return [RegistryEntry.from_row(row) for row in rows]


def _champion(source: Warehouse | Transaction) -> RegistryEntry | None:
    """The champion's row (read on its own, or inside the caller's transaction)."""
    rows = source.fetch("registry_champions", registry_columns=REGISTRY_COLUMNS)
    if len(rows) > 1:
        versions = ", ".join(sorted(r["model_version"] for r in rows))
        raise PulsewatchError(f"model_registry has {len(rows)} champions ({versions}); keep one")
    return RegistryEntry.from_row(rows[0]) if rows else None


def read_champion(warehouse: Warehouse) -> RegistryEntry | None:
    with friendly_errors("read model_registry"):
        return _champion(warehouse)


def model_for_date(source: Warehouse | Transaction, score_date: date) -> RegistryEntry | None:
    """The model that may score `score_date`: the champion when its cut-off is on or before
    the date, else the freshest model that passed the gate with such a cut-off (see the module
    docstring), else None."""
    champion = _champion(source)
    if champion is not None and champion.train_end_date <= score_date:
        return champion
    earlier = _rows(source, "registry_model_for_date", {"score_date": score_date})
    return earlier[0] if earlier else None


def read_model_for_date(warehouse: Warehouse, score_date: date) -> RegistryEntry | None:
    with friendly_errors("read model_registry"):
        return model_for_date(warehouse, score_date)


def no_model_message(champion: RegistryEntry | None, score_date: date) -> str:
    """One line: why no model may score `score_date`, and how to get one."""
    if champion is None:
        return (
            "no champion model in model_registry: run `pulsewatch train` "
            "(or `pulsewatch run`) first"
        )
    return (
        f"no model may score {score_date}: the champion {champion.model_version} learned from "
        f"data up to {champion.train_end_date} and no model trained as of {score_date} or "
        f"earlier is registered; train one with `pulsewatch train --date {score_date}` (or "
        f"`pulsewatch run --date {score_date}` / `pulsewatch backfill`, which train as of the "
        "date when needed)"
    )


def training_needed(
    model: RegistryEntry | None, score_date: date, max_age_days: int
) -> tuple[bool, str]:
    """Train (as of the score date) when no model may score it (model_for_date: none, e.g. no
    champion yet, or only models that learned from later data) or that model's cut-off is
    older than `max_age_days` before the score date."""
    if model is None:
        return True, f"no model may score {score_date} yet (none trained as of it or earlier)"
    age = score_date - model.train_end_date
    name = f"{model.role} {model.model_version}"
    if age > timedelta(days=max_age_days):
        return True, f"{name} is {age.days} days old (max {max_age_days})"
    return False, f"{name} is fresh ({age.days} days old)"


def record_model(
    warehouse: Warehouse,
    stored: StoredModel,
    model: PulseModel,
    decision: PromotionDecision,
    expected_champion: str | None,
    flow_run_id: str | None,
) -> RegistryEntry:
    """Insert the candidate with its final status; retire the old champion if promoted. A
    candidate that passed the gate but learned from less than the champion (an earlier
    cut-off: trained as of a past date) becomes a challenger: it may score dates from its
    cut-off on that the champion may not, and never replaces the champion."""
    now = _now()
    entry = RegistryEntry(
        model_version=stored.version,
        trained_at=now,
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
        status = decision.status
        if decision.promote and current is not None:
            if current.train_end_date > entry.train_end_date:
                status = "challenger"
            else:
                tx.execute(
                    "registry_retire_champion",
                    {"retired_at": now, "replaced_by": entry.model_version},
                )
        entry = replace(entry, status=status, promoted_at=now if status == "champion" else None)
        tx.execute("registry_insert", entry.__dict__)
    return entry


def list_models(warehouse: Warehouse) -> list[RegistryEntry]:
    with friendly_errors("read model_registry"):
        return _rows(warehouse, "registry_list")


def _get(tx: Transaction, version: str) -> RegistryEntry:
    rows = _rows(tx, "registry_get", {"model_version": version})
    if not rows:
        raise PulsewatchError(
            f"model {version} is not in model_registry (see `pulsewatch models list`)"
        )
    return rows[0]


def promote_model(
    warehouse: Warehouse, version: str, check_artifact: Callable[[RegistryEntry], None]
) -> tuple[RegistryEntry, RegistryEntry | None]:
    """Make `version` the champion and retire the current one, in one transaction under the
    registry's lock; `check_artifact` (load and verify it) runs first, so a champion whose
    artifact is damaged or missing is never made. Returns (new, previous champion)."""
    with friendly_errors("write model_registry"), warehouse.transaction() as tx:
        tx.lock_partition("model_registry", REGISTRY_LOCK)
        target, current = _get(tx, version), _champion(tx)
        if current is not None and current.model_version == version:
            raise PulsewatchError(f"model {version} is already the champion")
        check_artifact(target)
        now = _now()
        if current is not None:
            tx.execute("registry_retire_champion", {"retired_at": now, "replaced_by": version})
        promoted = replace(
            target, status="champion", promoted_at=now, retired_at=None, replaced_by=None
        )
        _set_status(tx, promoted)
    return promoted, current


def retire_model(warehouse: Warehouse, version: str) -> RegistryEntry:
    """Retire `version` by hand, in one transaction under the registry's lock. A model retired
    by hand scores no date again (past dates included). Retiring the champion leaves none:
    the next `pulsewatch run` trains one (or `pulsewatch models promote` another)."""
    with friendly_errors("write model_registry"), warehouse.transaction() as tx:
        tx.lock_partition("model_registry", REGISTRY_LOCK)
        target = _get(tx, version)
        if target.status in ("retired", "rejected") and target.replaced_by is None:
            raise PulsewatchError(f"model {version} is already {target.status}")
        retired = replace(target, status="retired", retired_at=_now(), replaced_by=None)
        _set_status(tx, retired)
    return retired


def _set_status(tx: Transaction, entry: RegistryEntry) -> None:
    tx.execute(
        "registry_set_status",
        {
            "model_version": entry.model_version,
            "status": entry.status,
            "promoted_at": entry.promoted_at,
            "retired_at": entry.retired_at,
            "replaced_by": entry.replaced_by,
        },
    )


def scoring_model(
    source: Warehouse | Transaction, score_date: date
) -> tuple[RegistryEntry | None, RegistryEntry | None]:
    """(the model that may score `score_date`, None), or (None, the champion) when no model may:
    the champion, or its absence, says why (no_model_message)."""
    model = model_for_date(source, score_date)
    return model, (_champion(source) if model is None else None)
