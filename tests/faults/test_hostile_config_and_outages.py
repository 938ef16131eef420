"""Scenarios 7 and 8: hostile configuration, planted secrets, and Slack or the Prefect API
unreachable, through the real console script."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tasks.demo_data import write_demo_data
from tasks.errors import ConfigError
from tasks.settings import load_settings
from tasks.warehouse import warehouse_for_url
from tests.conftest import POSTGRES_URL, SMALL_DEMO
from tests.support.flow_checks import active_employees, risk_by_employee, score_rows
from tests.support.ports import free_port

CLI = str(Path(sys.executable).with_name("pulsewatch"))
DAY = "2026-11-20"
MARKER = "pwMarkerSecret7f3c9e"
HOSTILE_NAMES = [
    "public; DROP TABLE employees",
    'x" ; DELETE FROM y; --',
    "a.b",
    "1abc",
    "name with space",
    "x'--",
]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    return free_port()


def pulsewatch(*args: str, **env: str) -> subprocess.CompletedProcess:
    merged = {**os.environ, **env}
    merged.pop("PULSEWATCH_DEBUG", None)
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, env=merged)


def with_password(url: str, password: str, **parts) -> str:
    return sa.make_url(url).set(password=password, **parts).render_as_string(hide_password=False)


@pytest.mark.unit
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_sql_in_schema_or_table_names_is_refused_at_startup(name, monkeypatch):
    monkeypatch.setenv("PULSEWATCH_SCHEMA", name)
    with pytest.raises(ConfigError, match=r"^PULSEWATCH_SCHEMA: schema must match "):
        load_settings()
    with pytest.raises(ValueError, match="schema must match"):
        warehouse_for_url("duckdb:///:memory:", name)
    warehouse = warehouse_for_url("duckdb:///:memory:")
    with pytest.raises(ValueError, match="table must match"):
        warehouse.qualified(name)
    with pytest.raises(ValueError, match="column must match"):
        warehouse.quote(name)


@pytest.mark.cli
def test_doctor_refuses_a_hostile_schema_before_connecting():
    result = pulsewatch("doctor", PULSEWATCH_SCHEMA=HOSTILE_NAMES[0])
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "[FAIL] configuration: PULSEWATCH_SCHEMA: schema must match ^[A-Za-z_][A-Za-z0-9_]*$ "
        "(got 'public; DROP TABLE employees') -> fix the variable named above"
    ]


async def _everything_prefect_holds(since: datetime) -> list[str]:
    """Logs, flow runs (names, parameters, state messages) and artifacts on the API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterTimestamp,
    )

    texts: list[str] = []
    async with get_client() as client:
        offset = 0
        while True:
            page = await client.read_logs(
                log_filter=LogFilter(timestamp=LogFilterTimestamp(after_=since)),
                limit=200,
                offset=offset,
            )
            texts += [f"{log.name} {log.message}" for log in page]
            if len(page) < 200:
                break
            offset += 200
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
            limit=200,
        )
        texts += [f"{r.name} {r.parameters} {r.state.message if r.state else ''}" for r in runs]
        artifacts = await client.read_artifacts(limit=200)
        texts += [f"{a.key} {a.description} {a.data}" for a in artifacts]
    assert len(texts) > 20  # the scan did read the runs' logs
    return texts


@pytest.mark.integration
def test_planted_secrets_never_appear_in_anything_emitted(pg, prefect_api, tmp_path):
    """The warehouse password and the Slack webhook hold a marker; doctor, a failing run, an
    unreachable warehouse and a successful run must not print, log or store it anywhere."""
    from prefect.settings import PREFECT_API_URL

    write_demo_data(pg, SMALL_DEMO)
    since = datetime.now(UTC)
    secret_env = {
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PULSEWATCH_SCHEMA": pg.schema,
        "PULSEWATCH_WAREHOUSE_URL": with_password(POSTGRES_URL, MARKER),
        "PULSEWATCH_SLACK_WEBHOOK_URL": f"http://127.0.0.1:{closed_port()}/services/T0/B0/{MARKER}",
    }
    unreachable = with_password(POSTGRES_URL, MARKER, port=closed_port())
    bad_role = with_password(POSTGRES_URL, MARKER, username="pw_no_such_role")
    runs = {
        "doctor": pulsewatch("doctor", **secret_env),
        "doctor unreachable": pulsewatch(
            "doctor", **{**secret_env, "PULSEWATCH_WAREHOUSE_URL": unreachable}
        ),
        "run bad role": pulsewatch(
            "run", "--date", DAY, **{**secret_env, "PULSEWATCH_WAREHOUSE_URL": bad_role}
        ),
        "run": pulsewatch("run", "--date", DAY, **secret_env),
    }
    # the commands did what they should, with the marker password in use
    assert runs["doctor"].returncode == 0, runs["doctor"].stdout
    assert "[ok  ] warehouse reachable: postgresql:127.0.0.1/test" in runs["doctor"].stdout
    assert "[ok  ] slack webhook: set" in runs["doctor"].stdout
    assert runs["doctor unreachable"].returncode == 1
    assert "[FAIL] warehouse reachable: connection to server at" in (
        runs["doctor unreachable"].stdout
    )
    failed = runs["run bad role"]
    assert failed.returncode == 2  # refused before any flow run starts (tasks/preflight.py)
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("pulsewatch: PULSEWATCH_WAREHOUSE_URL: cannot connect to postgresql:")
    assert 'role "pw_no_such_role" does not exist' in last
    assert failed.stderr.count("Retrying") == 0  # a credentials error is not retried
    assert runs["run"].returncode == 0, runs["run"].stderr[-2000:]
    day = date.fromisoformat(DAY)
    active = active_employees(pg, day)
    assert score_rows(pg, day) == (active, active)  # Slack unreachable changed nothing

    emitted = {f"{name} stdout": r.stdout for name, r in runs.items()}
    emitted |= {f"{name} stderr": r.stderr for name, r in runs.items()}
    emitted |= {
        f"prefect {i}": text for i, text in enumerate(asyncio.run(_everything_prefect_holds(since)))
    }
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "model.json" for p in files)
    emitted |= {str(p): p.read_bytes().decode("utf-8", "replace") for p in files}
    leaks = [where for where, text in emitted.items() if MARKER in text]
    assert leaks == []
    assert len(emitted) > 30


@pytest.mark.integration
def test_prefect_api_unreachable_fails_clearly_and_changes_nothing(pg, prefect_api):
    """With the API down a run cannot start: one line, non-zero, yesterday's scores intact."""
    from flows.nightly import nightly_pipeline

    write_demo_data(pg, SMALL_DEMO)
    day = date.fromisoformat(DAY)
    nightly_pipeline(score_date=day)
    before = risk_by_employee(pg, day)
    result = pulsewatch(
        "score",
        "--date",
        DAY,
        PREFECT_API_URL=f"http://127.0.0.1:{closed_port()}/api",
        PULSEWATCH_SCHEMA=pg.schema,
        PULSEWATCH_WAREHOUSE_URL=POSTGRES_URL,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "pulsewatch: unexpected RuntimeError: Failed to reach API at http://127.0.0.1:"
    )
    assert "Traceback" not in result.stderr
    assert risk_by_employee(pg, day) == before
