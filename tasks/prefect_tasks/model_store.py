"""Saving and loading models as Prefect tasks, over the plain functions in tasks/model_store.py."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.errors import ModelStoreError
from tasks.model import PulseModel
from tasks.model_store import StoredModel, load_model, model_store, new_version, save_model
from tasks.retries import IO_RETRIES
from tasks.settings import get_settings


@task(name="save-model", persist_result=False, cache_policy=NONE, **IO_RETRIES)
def save_model_task(model: PulseModel) -> StoredModel:
    return save_model(model_store(get_settings()), model, new_version())


@task(name="load-model", persist_result=False, cache_policy=NONE, **IO_RETRIES)
def load_model_task(stored: StoredModel) -> PulseModel:
    return load_model(model_store(get_settings()), stored)


@task(name="load-incumbent", persist_result=False, cache_policy=NONE, **IO_RETRIES)
def load_incumbent_task(
    stored: StoredModel, role: str = "champion"
) -> tuple[PulseModel | None, str]:
    """The model a candidate must not be worse than, or (None, why there is none). A damaged
    or missing artifact does not block training: the candidate is then gated on the AUC
    floor alone, with a warning saying why (a promoted candidate replaces the damaged model).
    `role` names the incumbent in messages ("champion", or e.g. "challenger model")."""
    try:
        return load_model(model_store(get_settings()), stored), ""
    except ModelStoreError as error:
        why = f"the {role} {stored.version} is unusable ({error})"
        get_run_logger().warning("%s: the candidate is gated on the AUC floor alone", why)
        return None, why
