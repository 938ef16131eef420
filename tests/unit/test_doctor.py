"""tasks/doctor.py: `pulsewatch doctor`'s checks, one test per check that can warn or fail.

Elsewhere: a hostile schema refused before connecting and secrets never echoed by doctor are
fault scenarios (tests/faults/test_hostile_config_and_outages.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tasks.demo_data import write_demo_data
from tasks.doctor import run_checks, training_memory_check
from tasks.features import TrainingWindow
from tasks.settings import get_settings
from tests.conftest import SCORE_DATE, SMALL_DEMO

pytestmark = pytest.mark.unit
CLI = str(Path(sys.executable).with_name("pulsewatch"))


def pulsewatch(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )


def _window_rows(duck) -> int:
    window = TrainingWindow.ending(SCORE_DATE, 18)
    with duck.engine.connect() as conn:
        months = pd.read_sql_query(
            f"SELECT survey_month FROM {duck.qualified('survey_responses')}", conn
        )["survey_month"]
    months = pd.to_datetime(months).dt.date
    return int(((months >= window.first_month) & (months <= window.last_month)).sum())


def test_doctor_warns_when_training_would_not_fit(duck):
    write_demo_data(duck, SMALL_DEMO)
    rows = _window_rows(duck)
    assert rows > 5_000
    small = training_memory_check(get_settings(), (400, "test limit"), SCORE_DATE)
    assert (small.ok, small.required) == (False, False)
    assert small.detail.startswith(f"{rows:,} survey rows in the 18 training months need ~0.4 GiB")
    assert small.detail.endswith("test limit: 0.4 GiB")
    assert "Size guide" in small.fix
    assert training_memory_check(get_settings(), (8192, "prefect.yaml"), SCORE_DATE).ok


@pytest.mark.cli
def test_doctor_reports_missing_source_tables_and_exits_1():
    result = pulsewatch("doctor")
    assert result.returncode == 1
    assert (
        "[FAIL] source table survey_responses: survey_responses missing -> run `pulsewatch demo-data`"
        in result.stdout
    )
    assert "[ok  ] model store writable" in result.stdout
    assert "[warn] slack webhook: PULSEWATCH_SLACK_WEBHOOK_URL is not set" in result.stdout


@pytest.mark.prefect
def test_doctor_shows_where_alert_links_point(tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PULSEWATCH_PREFECT_UI_URL", raising=False)
    api = "http://127.0.0.1:9/api"  # nothing listens: the API check fails fast, offline
    with temporary_settings({PREFECT_API_URL: api}, restore_defaults={PREFECT_UI_URL}):
        monkeypatch.setenv("PREFECT_API_URL", api)
        (check,) = [c for c in run_checks() if c.name == "alert links"]
    assert (check.ok, check.detail) == (True, "http://127.0.0.1:9/runs/flow-run/<id>")
    monkeypatch.delenv("PREFECT_API_URL")
    with temporary_settings(restore_defaults={PREFECT_API_URL, PREFECT_UI_URL}):
        (check,) = [c for c in run_checks() if c.name == "alert links"]
    assert not check.ok and not check.required
    assert check.detail.startswith("PULSEWATCH_PREFECT_UI_URL: not set")
