"""Session fixtures for the alerting tests: one real Prefect server, one Slack stand-in, one
runner serving nightly-pipeline/nightly against a session warehouse each test prepares."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported by the fixture: the unit tests of this folder need no Prefect
    from tests.support.alert_services import PrefectServer, Receiver


@dataclass
class AlertStack:
    server: PrefectServer
    receiver: Receiver
    runner_log: Path
    runner_pid: int
    warehouse_url: str
    home: Path


@pytest.fixture(scope="session")
def alert_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertStack]:
    from tests.support.alert_services import Receiver, start_prefect_server, start_runner, stop
    from tests.support.prefect_db import prefect_database

    with tempfile.TemporaryDirectory(prefix="pw-alerts-") as tmp:
        home = Path(tmp)
        (home / "prefect").mkdir()
        database = prefect_database(tmp_path_factory.getbasetemp(), home / "prefect" / "db.sqlite")
        server = start_prefect_server(home / "prefect", database)
        receiver = Receiver().start()
        warehouse_url = f"duckdb:///{home}/warehouse.duckdb"
        runner_env = {
            "PULSEWATCH_WAREHOUSE_URL": warehouse_url,
            "PULSEWATCH_MODEL_STORE": str(home / "models"),
            "PULSEWATCH_WORK_DIR": str(home / "work"),
        }
        runner_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PULSEWATCH_")},
            **runner_env,
        }
        runner_log = home / "runner.log"
        runner = start_runner(home / "prefect", server.api_url, runner_env, runner_log)
        try:
            yield AlertStack(server, receiver, runner_log, runner.pid, warehouse_url, home)
        finally:
            stop(runner)
            receiver.stop()
            stop(server.process)


@pytest.fixture
def stack(alert_stack: AlertStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertStack]:
    """The session stack as the Prefect API of this test (overriding any other test server)
    and the receiver as the Slack webhook; the receiver answers 200 and starts empty."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PULSEWATCH_SLACK_WEBHOOK_URL", alert_stack.receiver.url)
    monkeypatch.setenv("PULSEWATCH_WAREHOUSE_URL", alert_stack.warehouse_url)
    alert_stack.receiver.status = 200
    alert_stack.receiver.messages.clear()
    from prefect.events.worker import EventsWorker

    with temporary_settings({PREFECT_API_URL: alert_stack.server.api_url}):
        try:
            yield alert_stack
        finally:
            # Prefect keeps one process-wide events worker per client type, bound to the API
            # URL current when it started: drain it so later tests (flow tests under
            # prefect_test_harness) do not keep sending their events to this server.
            EventsWorker.drain_all(timeout=10, at_exit=False)
