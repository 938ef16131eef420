"""The automation specs and message templates as data (no Prefect server)."""

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from deployments.alert_messages import run_body, run_link
from deployments.automations import (
    AlertPolicy,
    automation_specs,
    format_duration,
    parse_duration,
    validate_webhook_url,
)
from tasks.errors import ConfigError, PulsewatchError

pytestmark = pytest.mark.unit
CLI = str(Path(sys.executable).with_name("pulsewatch"))


def test_durations_round_trip_and_reject_junk():
    assert parse_duration("26h", "--x") == timedelta(hours=26)
    assert parse_duration("90s", "--x") == timedelta(seconds=90)
    assert format_duration(timedelta(hours=26)) == "26h"
    assert format_duration(timedelta(seconds=90)) == "90s"
    with pytest.raises(PulsewatchError, match="--nightly-window: expected a duration"):
        parse_duration("soon", "--nightly-window")
    with pytest.raises(PulsewatchError, match="at least 10s"):
        AlertPolicy(nightly_window=timedelta(seconds=5))


def test_every_trigger_covers_only_deployment_runs_of_pulsewatch_flows():
    specs = {s.name: s for s in automation_specs(AlertPolicy())}
    assert set(specs) == {
        "pulsewatch-run-failed",
        "pulsewatch-run-late",
        "pulsewatch-run-stuck-pending",
        "pulsewatch-run-stuck-running",
        "pulsewatch-nightly-not-completed",
    }
    failed = specs["pulsewatch-run-failed"].trigger
    assert failed["expect"] == [
        "prefect.flow-run.Crashed",
        "prefect.flow-run.Failed",
        "prefect.flow-run.TimedOut",
    ]
    for spec in specs.values():
        roles = [m["prefect.resource.role"] for m in spec.trigger["match_related"]]
        assert roles == ["flow", "deployment"], spec.name  # subflow runs have no deployment
    nightly = specs["pulsewatch-nightly-not-completed"].trigger
    assert nightly["posture"] == "Proactive" and nightly["within"] == 26 * 3600
    assert nightly["match_related"][1]["prefect.resource.name"] == "nightly"
    stuck = specs["pulsewatch-run-stuck-pending"].trigger
    assert stuck["after"] == ["prefect.flow-run.Pending"] and stuck["within"] == 900
    assert "prefect.flow-run.Running" in stuck["expect"]


def test_run_link_uses_the_configured_ui_url_or_prefects_own():
    assert run_link("https://prefect.internal/") == (
        "https://prefect.internal/runs/flow-run/{{ flow_run.id }}"
    )
    assert run_link(None) == "{{ flow_run|ui_url }}"
    assert "https://prefect.internal/runs/flow-run/" in run_body(
        "https://prefect.internal", with_error=True
    )


def test_webhook_url_is_checked_without_being_echoed():
    assert validate_webhook_url(" https://hooks.slack.com/x ") == "https://hooks.slack.com/x"
    with pytest.raises(ConfigError) as raised:
        validate_webhook_url("hooks.slack.com/T0/B0/very-secret")
    assert "very-secret" not in str(raised.value)


def test_cli_apply_without_webhook_is_one_line(tmp_path):
    result = subprocess.run(
        [CLI, "automations", "apply", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pulsewatch: PULSEWATCH_SLACK_WEBHOOK_URL: not set (the Slack incoming webhook)"
    )
