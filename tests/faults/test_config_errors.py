"""Issue 15 item 9: configuration errors are one line naming the variable, found before any
flow run starts, and show nothing of a secret (stdout, stderr, the Prefect API)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.faults.test_hostile_config_and_outages import closed_port, with_password

CLI = str(Path(sys.executable).with_name("pulsewatch"))
SECRET_TAIL = "SecretTail9"


def pulsewatch(*args: str, **env: str) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL  # here: the unit test below needs no Prefect

    merged = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), **env}
    merged.pop("PULSEWATCH_DEBUG", None)
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, env=merged)


async def _prefect_since(since: datetime) -> tuple[int, list[str]]:
    """Flow runs created since `since`, and every text the API holds of them and of logs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterTimestamp,
    )

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
        )
        logs = await client.read_logs(
            log_filter=LogFilter(timestamp=LogFilterTimestamp(after_=since))
        )
    texts = [f"{r.name} {r.parameters} {r.state.message if r.state else ''}" for r in runs]
    return len(runs), texts + [log.message for log in logs]


@pytest.mark.integration
def test_config_errors_are_one_line_before_any_flow_run_and_show_no_secret(
    postgres_schema, prefect_api, tmp_path
):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    port = closed_port()
    cases = {
        "raw @ in the password": (
            ["score", "--date", "2026-11-20"],
            {
                "PULSEWATCH_WAREHOUSE_URL": POSTGRES_URL.replace(
                    "postgres@", f"postgres:Hunter2@{SECRET_TAIL}@"
                )
            },
            "pulsewatch: PULSEWATCH_WAREHOUSE_URL: the user or password contains a raw '@': "
            "percent-encode it as %40 (the URL is not shown)",
        ),
        "hostile schema": (
            ["run", "--date", "2026-11-20"],
            {"PULSEWATCH_SCHEMA": f"x;drop {SECRET_TAIL}"},
            "pulsewatch: PULSEWATCH_SCHEMA: schema must match ^[A-Za-z_][A-Za-z0-9_]*$ "
            f"(got 'x;drop {SECRET_TAIL}')",
        ),
        "model store is a file": (
            ["train", "--date", "2026-11-20"],
            {"PULSEWATCH_MODEL_STORE": str(a_file)},
            f"pulsewatch: PULSEWATCH_MODEL_STORE: {a_file} is a file, not a directory",
        ),
        "work dir below a file": (
            ["score", "--date", "2026-11-20"],
            {"PULSEWATCH_WORK_DIR": str(a_file / "work")},
            f"pulsewatch: PULSEWATCH_WORK_DIR: {a_file} is a file, not a directory "
            f"(a parent of {a_file / 'work'})",
        ),
        "year 1": (
            ["run", "--date", "0001-01-01"],
            {},
            "pulsewatch: --date: 0001-01-01 is out of range (1900-01-01..2199-12-31)",
        ),
        "closed port": (
            ["score", "--date", "2026-11-20"],
            {"PULSEWATCH_WAREHOUSE_URL": with_password(POSTGRES_URL, SECRET_TAIL, port=port)},
            "pulsewatch: PULSEWATCH_WAREHOUSE_URL: cannot connect to postgresql:127.0.0.1/test "
            f'schema public: connection to server at "127.0.0.1", port {port} failed: '
            "Connection refused",
        ),
    }
    since = datetime.now(UTC)
    for name, (args, env, expected) in cases.items():
        result = pulsewatch(*args, **env)
        assert result.returncode == 2, (name, result.stderr[-2000:])
        assert result.stderr.strip().splitlines() == [expected], name
        assert result.stdout == "", name
        assert "Retrying" not in result.stderr
        secret_free = expected.replace(f"x;drop {SECRET_TAIL}", "")  # the schema is no secret
        assert SECRET_TAIL not in secret_free and "Hunter2" not in result.stderr, name
    runs, texts = asyncio.run(_prefect_since(since))
    assert runs == 0  # nothing started, so nothing Failed in the UI
    assert not [t for t in texts if SECRET_TAIL in t or "Hunter2" in t]


@pytest.mark.unit
def test_doctor_masks_the_password_not_the_words_it_spells(monkeypatch):
    """The password `public` is masked where the URL carries it, not in `schema public`."""
    from tasks.doctor import mask_secrets
    from tasks.settings import load_settings

    url = with_password(POSTGRES_URL, "public")
    monkeypatch.setenv("PULSEWATCH_WAREHOUSE_URL", url)
    settings = load_settings()
    assert mask_secrets("postgresql:127.0.0.1/test schema public", settings) == (
        "postgresql:127.0.0.1/test schema public"
    )
    assert mask_secrets(f"failed for {url}", settings) == "failed for ***"
    assert mask_secrets("postgres:public@127.0.0.1", settings) == "postgres:***@127.0.0.1"
