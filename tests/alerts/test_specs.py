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
    resolve_ui_url,
    validate_webhook_url,
)
from tasks.errors import ConfigError, PulsewatchError

pytestmark = [pytest.mark.unit, pytest.mark.prefect]  # see tests/conftest.py, PREFECT_GROUP
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
    specs = {s.name: s for s in automation_specs(AlertPolicy(ui_url="http://ui.test"))}
    assert set(specs) == {
        "pulsewatch-run-failed",
        "pulsewatch-run-late",
        "pulsewatch-run-stuck-pending",
        "pulsewatch-run-stuck-running",
        "pulsewatch-nightly-not-completed",
        "pulsewatch-model-health",
    }
    failed = specs["pulsewatch-run-failed"].trigger
    assert failed["expect"] == [
        "prefect.flow-run.Crashed",
        "prefect.flow-run.Failed",
        "prefect.flow-run.TimedOut",
    ]
    for spec in specs.values():
        if spec.name == "pulsewatch-model-health":  # an event of the run, not a state change
            continue
        roles = [m["prefect.resource.role"] for m in spec.trigger["match_related"]]
        assert roles == ["flow", "deployment"], spec.name  # subflow runs have no deployment
    nightly = specs["pulsewatch-nightly-not-completed"].trigger
    assert nightly["posture"] == "Proactive" and nightly["within"] == 26 * 3600
    assert nightly["match_related"][1]["prefect.resource.name"] == "nightly"
    stuck = specs["pulsewatch-run-stuck-pending"].trigger
    assert stuck["after"] == ["prefect.flow-run.Pending"] and stuck["within"] == 900
    assert "prefect.flow-run.Running" in stuck["expect"]


def test_run_link_is_baked_into_the_template():
    assert run_link("https://prefect.internal/") == (
        "https://prefect.internal/runs/flow-run/{{ flow_run.id }}"
    )
    assert "https://prefect.internal/runs/flow-run/" in run_body(
        "https://prefect.internal", with_error=True
    )
    # Prefect's `ui_url` filter renders from the *server's* PREFECT_UI_URL ("None" without it).
    for spec in automation_specs(AlertPolicy(ui_url="http://ui.test")):
        assert "ui_url" not in spec.body, spec.name
        assert "http://ui.test/" in spec.body, spec.name


@pytest.mark.parametrize(
    ("configured", "api_url", "expected"),
    [
        ("https://prefect.internal/", None, "https://prefect.internal"),
        ("https://prefect.internal", "http://127.0.0.1:4200/api", "https://prefect.internal"),
        (None, "http://127.0.0.1:4200/api", "http://127.0.0.1:4200"),
        (None, "https://prefect.example.com/prefect/api", "https://prefect.example.com/prefect"),
        (
            None,
            "https://api.prefect.cloud/api/accounts/a1b2/workspaces/c3d4",
            "https://app.prefect.cloud/account/a1b2/workspace/c3d4",
        ),
    ],
)
def test_ui_url_resolution(configured, api_url, expected):
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}, restore_defaults={PREFECT_UI_URL}):
        assert resolve_ui_url(configured) == expected


def test_prefects_own_ui_url_setting_wins_over_the_api_url():
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    with temporary_settings(
        {PREFECT_API_URL: "http://10.0.0.5:4200/api", PREFECT_UI_URL: "https://prefect.corp/"}
    ):
        assert resolve_ui_url(None) == "https://prefect.corp"


def test_no_ui_url_is_a_one_line_config_error():
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    unset = temporary_settings(restore_defaults={PREFECT_API_URL, PREFECT_UI_URL})
    expected = r"^PULSEWATCH_PREFECT_UI_URL: not set, and Prefect"
    with unset, pytest.raises(ConfigError, match=expected):
        resolve_ui_url(None)
    with pytest.raises(ConfigError, match=r"^PULSEWATCH_PREFECT_UI_URL: must be an http"):
        resolve_ui_url("prefect.internal")


def test_webhook_url_is_checked_without_being_echoed():
    assert validate_webhook_url(" https://hooks.slack.com/x ") == "https://hooks.slack.com/x"
    with pytest.raises(ConfigError) as raised:
        validate_webhook_url("hooks.slack.com/T0/B0/very-secret")
    assert "very-secret" not in str(raised.value)


@pytest.mark.cli
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


def test_backfill_children_are_left_out_of_every_run_trigger_by_name():
    from prefect.server.events.schemas.events import matches

    from deployments.automations import NOT_A_BACKFILL_CHILD

    for spec in automation_specs(AlertPolicy(ui_url="http://ui.test")):
        if spec.name == "pulsewatch-model-health":  # the emitting run is a related resource
            (run,) = spec.trigger["match_related"]
            assert run == {
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": NOT_A_BACKFILL_CHILD,
            }
        elif spec.name != "pulsewatch-nightly-not-completed":
            assert spec.trigger["match"]["prefect.resource.name"] == NOT_A_BACKFILL_CHILD
    # what tasks/backfill.py names its per-date runs, and what it does not
    assert not matches(NOT_A_BACKFILL_CHILD, "backfill-2026-10-01")
    for name in ("backfill-2026-10-01..2026-10-31", "nightly-2026-10-01", "sturdy-okapi"):
        assert matches(NOT_A_BACKFILL_CHILD, name), name


def test_failed_dates_are_named_as_spans():
    from datetime import date

    from tasks.backfill import date_spans

    days = [date(2026, 10, d) for d in (3, 1, 2, 7, 9, 10)] + [date(2026, 11, 1)]
    assert (
        date_spans(days) == "2026-10-01..2026-10-03, 2026-10-07, 2026-10-09..2026-10-10, 2026-11-01"
    )
    month = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]
    assert date_spans(month) == "2026-10-01..2026-10-31"


def test_the_health_alert_is_amber_on_the_nightly_event_and_says_what_moved():
    """Rendered with Prefect's own template environment, as the server renders it."""
    from datetime import UTC, date, datetime
    from types import SimpleNamespace

    from prefect.server.utilities.user_templates import render_user_template_sync

    from deployments.automations import AMBER_BLOCK
    from tasks.health import Breach, health_event

    (spec,) = [
        s
        for s in automation_specs(AlertPolicy(ui_url="https://prefect.internal"))
        if s.name == "pulsewatch-model-health"
    ]
    assert spec.block == AMBER_BLOCK
    assert spec.trigger["posture"] == "Reactive" and spec.trigger["threshold"] == 1
    assert spec.trigger["expect"] == ["pulsewatch.health.breached"]
    assert spec.trigger["match"] == {"prefect.resource.id": "pulsewatch.model.*"}

    night = date(2026, 11, 21)
    event = health_event(
        night,
        "m7",
        [
            Breach("score_psi", "risk_score", 0.31234, 0.25, date(2026, 11, 20), 2, "m7"),
            Breach("feature_psi", "tenure_months", 4.8567, 0.25, night, 1, "m7", 3),
            Breach("realized_auc", "auc", 0.6123, 0.7, date(2026, 9, 3), 4, "m5"),
        ],
    )
    context = {
        "event": SimpleNamespace(payload=event["payload"]),
        "flow_run": SimpleNamespace(name="nightly-2026-11-21", id="abc-123"),
        "firing": SimpleNamespace(triggered=datetime(2026, 11, 21, 2, 5, 1, tzinfo=UTC)),
    }
    assert render_user_template_sync(spec.subject, context) == (
        "pulsewatch: model health: risk score drifted, tenure_months drifted, "
        "realized AUC below the floor"
    )
    assert render_user_template_sync(spec.body, context).splitlines() == [
        "*Model* m7   *Score date* 2026-11-21",
        "*Risk score drift* PSI 0.312 above 0.25 since 2026-11-20 (2 night(s))",
        "*Feature drift* tenure_months (importance rank 3) PSI 4.857 above 0.25 since "
        "2026-11-21 (1 night(s))",
        "*Realized AUC* 0.612 below the floor 0.70 on 4 consecutive evaluated score dates since "
        "2026-09-03 (model m5)",
        "*Flow run* nightly-2026-11-21",
        "*When* 2026-11-21 02:05:01 +0000",
        "*Run* https://prefect.internal/runs/flow-run/abc-123",
    ]
