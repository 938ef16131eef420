"""Checks the command line runs before it starts a flow run: a bad variable is one line naming
it, and no Failed run (with the error, maybe a secret, stored by Prefect) is left behind.

The flows check the same things again where they use them (deployed runs have no CLI)."""

from __future__ import annotations

from pathlib import Path

from tasks.errors import ConfigError
from tasks.settings import Settings, get_settings


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be (or become) a folder: it, or a parent of it, is a file."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            if candidate.is_dir():
                return None
            return f"{candidate} is a file, not a directory" + (
                "" if candidate == path else f" (a parent of {path})"
            )
    return None


def check_folders(settings: Settings) -> None:
    folders = [("PULSEWATCH_WORK_DIR", settings.work_dir)]
    if not settings.model_store.startswith("s3://"):
        folders.append(("PULSEWATCH_MODEL_STORE", settings.model_store))
    for variable, value in folders:
        problem = folder_problem(Path(value))
        if problem:
            raise ConfigError(f"{variable}: {problem}")


def check_warehouse(settings: Settings) -> None:
    """Connect once (no retries here: the command has not started anything yet); a failure is
    one line naming PULSEWATCH_WAREHOUSE_URL, with the password masked."""
    from tasks.doctor import mask_secrets
    from tasks.warehouse import first_line, open_warehouse

    with open_warehouse(settings) as warehouse:
        try:
            warehouse.ping()
        except Exception as error:
            reason = mask_secrets(first_line(error), settings)
            raise ConfigError(
                f"PULSEWATCH_WAREHOUSE_URL: cannot connect to {warehouse.where()}: {reason}"
            ) from None


def check_before_run() -> Settings:
    """Settings valid, folders usable, warehouse reachable: before a flow run starts."""
    settings = get_settings()
    check_folders(settings)
    check_warehouse(settings)
    return settings
