"""Preflight checks for `pulsewatch doctor`: what is wrong and how to fix it.

Every message is built from settings and driver errors with secrets masked: the warehouse URL
is shown without its password and the Slack webhook only as set / not set.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from datetime import date

from tasks.errors import PulsewatchError
from tasks.settings import Settings, load_settings
from tasks.warehouse import (
    RESULT_TABLES,
    SOURCE_TABLES,
    Warehouse,
    open_warehouse,
    url_password,
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _first_line(error: BaseException) -> str:
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def mask_secrets(text: str, settings: Settings) -> str:
    """`text` without the warehouse password or the Slack webhook. The password is masked
    where a URL carries it (`:<password>@`), not as any substring: a password such as `public`
    must not turn `schema public` into `schema ***`."""
    url = settings.warehouse_url.get_secret_value()
    password = url_password(url)
    text = text.replace(url, "***")
    if password:
        for form in {password, urllib.parse.quote(password, safe="")}:
            text = text.replace(f":{form}@", ":***@")
    if settings.slack_webhook_url is not None:
        text = text.replace(settings.slack_webhook_url.get_secret_value(), "***")
    return text


def run_checks() -> list[Check]:
    try:
        settings = load_settings()
    except PulsewatchError as error:
        return [Check("configuration", False, str(error), "fix the variable named above")]
    checks = [Check("configuration", True, f"warehouse kind {settings.warehouse_kind}")]
    checks += _warehouse_checks(settings)
    checks.append(training_memory_check(settings))
    checks.append(_model_store_check(settings))
    checks.append(_prefect_check())
    checks.append(
        Check(
            "slack webhook",
            settings.slack_webhook_url is not None,
            "set" if settings.slack_webhook_url else "PULSEWATCH_SLACK_WEBHOOK_URL is not set",
            "set it to receive failure alerts (`pulsewatch automations apply`)",
            required=False,
        )
    )
    checks.append(_alert_link_check(settings))
    return [
        Check(c.name, c.ok, mask_secrets(c.detail, settings), c.fix, c.required) for c in checks
    ]


def _alert_link_check(settings: Settings) -> Check:
    """The Prefect UI base that `pulsewatch automations apply` bakes into alert links."""
    from deployments.automations import resolve_ui_url

    try:
        base = resolve_ui_url(settings.prefect_ui_url)
    except PulsewatchError as error:
        return Check("alert links", False, str(error), "", required=False)
    return Check("alert links", True, f"{base}/runs/flow-run/<id>", required=False)


def _warehouse_checks(settings: Settings) -> list[Check]:
    try:
        warehouse = open_warehouse(settings)
    except Exception as error:
        return [Check("warehouse", False, _first_line(error), "check PULSEWATCH_WAREHOUSE_URL")]
    with warehouse:
        try:
            warehouse.ping()
        except Exception as error:
            return [
                Check(
                    "warehouse reachable",
                    False,
                    _first_line(error),
                    "check PULSEWATCH_WAREHOUSE_URL / network / credentials",
                )
            ]
        checks = [Check("warehouse reachable", True, warehouse.where())]
        for table in SOURCE_TABLES:
            present = warehouse.table_exists(table)
            checks.append(
                Check(
                    f"source table {table}",
                    present,
                    warehouse.qualified(table) + (" present" if present else " missing"),
                    "run `pulsewatch demo-data` locally, or set PULSEWATCH_SCHEMA",
                )
            )
        checks += _round_trip_checks(warehouse)
        for table in RESULT_TABLES:
            present = warehouse.table_exists(table)
            checks.append(
                Check(
                    f"result table {table}",
                    True,
                    warehouse.qualified(table)
                    + (" present" if present else " will be created on the first run"),
                )
            )
    return checks


def _round_trip_checks(warehouse: Warehouse) -> list[Check]:
    """The one-row UNLOAD -> COPY trip through the staging path (Redshift only: the others
    have none and answer None)."""
    result = warehouse.round_trip_check()
    if result is None:
        return []
    return [Check("staging round trip", result.ok, result.detail, result.fix)]


def training_memory_check(
    settings: Settings, memory: tuple[int, str] | None = None, today: date | None = None
) -> Check:
    """Warn when the default training window (population x 18 months) would not fit the
    task's memory (tasks/capacity.py: the measured estimate)."""
    from tasks.capacity import rows_that_fit, task_memory_mib, training_peak_mib
    from tasks.dates import TrainingWindow, resolve_date

    name = "training memory"
    memory = memory or task_memory_mib()
    if memory is None:
        return Check(name, True, "task memory unknown (no container limit, no prefect.yaml)")
    window = TrainingWindow.ending(resolve_date(today), 18)
    try:
        with open_warehouse(settings) as warehouse:
            params = {"first_month": window.first_month, "last_month": window.last_month}
            rows = int(warehouse.fetch("training_rows", params)[0]["survey_rows"])
    except Exception as error:
        return Check(name, True, f"not estimated: {_first_line(error)}", required=False)
    mib, source = memory
    need = training_peak_mib(rows)
    detail = (
        f"{rows:,} survey rows in the 18 training months need ~{need / 1024:.1f} GiB; "
        f"{source}: {mib / 1024:.1f} GiB"
    )
    fits = rows <= rows_that_fit(mib)
    fix = "raise the pipeline size in prefect.yaml (README: Size guide) or train fewer months"
    return Check(name, fits, detail, "" if fits else fix, required=False)


def _model_store_check(settings: Settings) -> Check:
    from tasks.model_store import model_store

    try:
        model_store(settings).check_writable()
        return Check("model store writable", True, settings.model_store)
    except Exception as error:
        return Check(
            "model store writable",
            False,
            _first_line(error),
            "check PULSEWATCH_MODEL_STORE and its permissions",
        )


def _prefect_check() -> Check:
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
    if not url:
        return Check("prefect api", True, "not set: runs use a temporary local Prefect server")
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            healthy = client.api_healthcheck()
        if healthy is None:
            return Check("prefect api", True, f"{url} healthy")
        return Check(
            "prefect api",
            False,
            f"{url}: {_first_line(healthy)}",
            "start the server or fix PREFECT_API_URL / PREFECT_API_KEY",
        )
    except Exception as error:
        return Check(
            "prefect api",
            False,
            f"{url}: {_first_line(error)}",
            "start the server or fix PREFECT_API_URL / PREFECT_API_KEY",
        )
