"""Prefect automations as code: which flow-run events page the on-call, and `apply`.

The specs (:func:`automation_specs`, :func:`block_specs`) are pure data built from an
:class:`AlertPolicy`; :func:`apply_alerting` is the only function that talks to the Prefect API
(Cloud or self-hosted, whichever PREFECT_API_URL points at). It creates or updates by name, so
applying twice leaves one copy of each; an object that already matches is left alone (a
proactive trigger keeps its running window).

Which runs are covered: runs of a pulsewatch flow **that belong to a deployment** (scheduled
or `prefect deployment run`). Subflow runs (train-model and score-population inside
nightly-pipeline) have no deployment, so one failure is reported once, by the run that was
scheduled; a run started by hand from a terminal shows its error there.

Delivery: a CustomWebhookNotificationBlock posting Slack-format JSON. Prefect's SlackWebhook
block silently drops any URL that is not a Slack host; the custom webhook posts the same JSON
Slack documents to any URL (Slack, Mattermost, a proxy, a local receiver). The webhook URL lives
only in the block's secret values and is referenced as `{{webhook_url}}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from uuid import UUID

from deployments.alert_messages import (
    AMBER,
    RED,
    WEBHOOK_SECRET_KEY,
    health_body,
    health_subject,
    missing_completion_body,
    run_body,
    run_subject,
    slack_payload,
)
from tasks.errors import ConfigError, PulsewatchError
from tasks.health import EVENT as HEALTH_EVENT
from tasks.health import RESOURCE_PREFIX as MODEL_RESOURCE

FLOW_NAMES = ("nightly-pipeline", "train-model", "score-population", "backfill")
RED_BLOCK = "pulsewatch-slack-red"
AMBER_BLOCK = "pulsewatch-slack-amber"
AUTOMATION_TAG = "pulsewatch"

FAILED_STATES = ("Failed", "Crashed", "TimedOut")
FINAL_STATES = ("Completed", "Cancelled", *FAILED_STATES)
# Anything that shows the run moved on (so it is not stuck where it was).
_LEFT_RUNNING = (*FINAL_STATES, "Cancelling", "AwaitingRetry", "Paused", "Suspended")
_STARTED = ("Running", *_LEFT_RUNNING)
_PICKED_UP = ("Pending", *_STARTED)


# The runs a backfill starts (tasks/prefect_tasks/backfill.py:fan_out_to_deployment) are named
# backfill-YYYY-MM-DD; the backfill run itself reports their failures in one message, so they
# are left out of every run trigger. Prefect's resource matching takes '!' as "does not match"
# (prefect/server/events/schemas/events.py:matches). Tags cannot do this: a related-resource
# spec only asks whether *some* tag matches, and the backfill run itself is tagged backfill.
NOT_A_BACKFILL_CHILD = "!backfill-????-??-??"
_RUNS = {"prefect.resource.id": "prefect.flow-run.*", "prefect.resource.name": NOT_A_BACKFILL_CHILD}


def _events(*states: str) -> list[str]:
    return sorted(f"prefect.flow-run.{state}" for state in states)


_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str) -> timedelta:
    """'90s', '15m', '4h', '2d' -> timedelta; a one-line PulsewatchError otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not found:
        raise PulsewatchError(
            f"{option}: expected a duration like 90s, 15m, 4h or 2d (got {text!r})"
        )
    return timedelta(seconds=int(found[1]) * _UNIT_SECONDS[found[2]])


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class AlertPolicy:
    """The knobs of `pulsewatch automations apply`."""

    late_limit: timedelta = timedelta(minutes=15)
    pending_limit: timedelta = timedelta(minutes=15)
    running_limit: timedelta = timedelta(hours=4)
    nightly_window: timedelta = timedelta(hours=26)
    nightly_flow: str = "nightly-pipeline"
    nightly_deployment: str = "nightly"
    flows: tuple[str, ...] = FLOW_NAMES
    ui_url: str | None = None  # PULSEWATCH_PREFECT_UI_URL; None: resolve_ui_url() at apply

    def __post_init__(self) -> None:
        # Prefect refuses proactive windows under 10 s.
        for name in ("late_limit", "pending_limit", "running_limit", "nightly_window"):
            if getattr(self, name) < timedelta(seconds=10):
                raise PulsewatchError(f"{name.replace('_', ' ')}: must be at least 10s")


@dataclass(frozen=True)
class BlockSpec:
    name: str
    color: str


@dataclass(frozen=True)
class AutomationSpec:
    """One automation, Prefect-free: the trigger as Prefect's JSON, the message templates."""

    name: str
    description: str
    trigger: dict[str, Any]
    block: str
    subject: str
    body: str
    tags: tuple[str, ...] = field(default=(AUTOMATION_TAG,))


def block_specs() -> list[BlockSpec]:
    return [BlockSpec(RED_BLOCK, RED), BlockSpec(AMBER_BLOCK, AMBER)]


def _deployment_runs_of(flows: tuple[str, ...], deployment: str | None = None) -> list[dict]:
    """match_related: the run's flow is one of ours and the run belongs to a deployment."""
    return [
        {"prefect.resource.role": "flow", "prefect.resource.name": list(flows)},
        {"prefect.resource.role": "deployment", "prefect.resource.name": deployment or "*"},
    ]


def _stuck(after: tuple[str, ...], expect: tuple[str, ...], within: timedelta, flows) -> dict:
    return {
        "type": "event",
        "posture": "Proactive",
        "after": _events(*after),
        "expect": _events(*expect),
        "for_each": ["prefect.resource.id"],
        "match": dict(_RUNS),
        "match_related": _deployment_runs_of(flows),
        "threshold": 1,
        "within": within.total_seconds(),
    }


def automation_specs(policy: AlertPolicy) -> list[AutomationSpec]:
    """The six automations; names are the identity used by `apply`. `policy.ui_url` must be
    set (apply_alerting resolves it): every link is baked into the templates."""
    ui = policy.ui_url
    if not ui:
        raise ConfigError("the Prefect UI URL for alert links is not resolved")
    flows = policy.flows
    late, pending, running = (
        format_duration(policy.late_limit),
        format_duration(policy.pending_limit),
        format_duration(policy.running_limit),
    )
    window = format_duration(policy.nightly_window)
    return [
        AutomationSpec(
            name="pulsewatch-run-failed",
            description="A pulsewatch deployment run ended Failed, Crashed or TimedOut.",
            trigger={
                "type": "event",
                "posture": "Reactive",
                "expect": _events(*FAILED_STATES),
                "match": dict(_RUNS),
                "match_related": _deployment_runs_of(flows),
                "threshold": 1,
                "within": 0,
            },
            block=RED_BLOCK,
            subject=run_subject("{{ flow_run.state.name }}"),
            body=run_body(ui, with_error=True),
        ),
        AutomationSpec(
            name="pulsewatch-run-late",
            description=f"A scheduled pulsewatch run went Late and had not started {late} later.",
            trigger=_stuck(("Late",), _PICKED_UP, policy.late_limit, flows),
            block=AMBER_BLOCK,
            subject=run_subject(f"Late, not picked up after {late}"),
            body=run_body(ui, with_error=False),
        ),
        AutomationSpec(
            name="pulsewatch-run-stuck-pending",
            description=f"A pulsewatch run stayed Pending for {pending} (infrastructure never "
            "started, e.g. an ECS task that cannot launch).",
            trigger=_stuck(("Pending",), _STARTED, policy.pending_limit, flows),
            block=AMBER_BLOCK,
            subject=run_subject(f"stuck Pending for {pending}"),
            body=run_body(ui, with_error=False),
        ),
        AutomationSpec(
            name="pulsewatch-run-stuck-running",
            description=f"A pulsewatch run stayed Running for {running} without finishing "
            "(hung, or its process died without reporting).",
            trigger=_stuck(("Running", "Retrying"), _LEFT_RUNNING, policy.running_limit, flows),
            block=AMBER_BLOCK,
            subject=run_subject(f"still Running after {running}"),
            body=run_body(ui, with_error=False),
        ),
        AutomationSpec(
            name="pulsewatch-nightly-not-completed",
            description=f"No run of {policy.nightly_flow}/{policy.nightly_deployment} completed "
            f"within {window}.",
            trigger={
                "type": "event",
                "posture": "Proactive",
                "expect": _events("Completed"),
                "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "match_related": _deployment_runs_of(
                    (policy.nightly_flow,), policy.nightly_deployment
                ),
                "threshold": 1,
                "within": policy.nightly_window.total_seconds(),
            },
            block=RED_BLOCK,
            subject=(
                f"pulsewatch: {policy.nightly_flow}/{policy.nightly_deployment} "
                f"has not completed in {window}"
            ),
            body=missing_completion_body(
                policy.nightly_flow, policy.nightly_deployment, window, ui
            ),
        ),
        AutomationSpec(
            name="pulsewatch-model-health",
            description="A nightly run found the model unhealthy: realized AUC below the floor, "
            "or the risk score or a top feature drifted (one message per night, every broken "
            "rule in it).",
            trigger={
                "type": "event",
                "posture": "Reactive",
                "expect": [HEALTH_EVENT],
                "match": {"prefect.resource.id": f"{MODEL_RESOURCE}*"},
                # The run that emitted it; a backfill's per-date runs stay quiet (as above).
                "match_related": [
                    {
                        "prefect.resource.role": "flow-run",
                        "prefect.resource.name": NOT_A_BACKFILL_CHILD,
                    }
                ],
                "threshold": 1,
                "within": 0,
            },
            block=AMBER_BLOCK,
            subject=health_subject(),
            body=health_body(ui),
        ),
    ]


# --------------------------------------------------------------------------- Prefect API


@dataclass(frozen=True)
class Change:
    """One line of `apply` output: what was (or, with --dry-run, would be) done."""

    kind: str  # "block" | "automation"
    name: str
    action: str  # "create" | "update" | "unchanged" | "delete duplicate"

    def __str__(self) -> str:
        return f"{self.action:<16} {self.kind} {self.name}"


def resolve_ui_url(configured: str | None) -> str:
    """Base URL of the Prefect UI for links in alerts, decided when the automations are applied.

    PULSEWATCH_PREFECT_UI_URL when set; otherwise the UI URL of the Prefect API this process
    talks to: Prefect's own PREFECT_UI_URL setting, which Prefect derives from PREFECT_API_URL
    when unset (prefect/settings/models/_defaults.py:default_ui_url: '.../api' -> '...';
    'https://api.prefect.cloud/api/accounts/A/workspaces/W' ->
    'https://app.prefect.cloud/account/A/workspace/W').
    """
    if configured:
        if not re.match(r"^https?://[^/\s]+", configured.strip()):
            raise ConfigError("PULSEWATCH_PREFECT_UI_URL: must be an http:// or https:// URL")
        return configured.strip().rstrip("/")
    from prefect.settings import PREFECT_UI_URL

    derived = PREFECT_UI_URL.value()
    if not derived:
        raise ConfigError(
            "PULSEWATCH_PREFECT_UI_URL: not set, and Prefect has no UI URL to link alerts to "
            "(PREFECT_API_URL is unset): set PREFECT_API_URL to your Prefect server or workspace"
        )
    return str(derived).rstrip("/")


def validate_webhook_url(url: str) -> str:
    """Refuse anything but an http(s) URL, without echoing it (it is a secret)."""
    if not re.match(r"^https?://[^/\s]+", url.strip()):
        raise ConfigError("PULSEWATCH_SLACK_WEBHOOK_URL: must be an http:// or https:// URL")
    return url.strip()


def _desired_block(spec: BlockSpec, webhook_url: str):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    # pydantic validates these: `cookies` has a default and `secrets` takes a plain dict (made a
    # SecretDict), which mypy cannot see without pydantic's plugin
    return CustomWebhookNotificationBlock(  # type: ignore[call-arg]
        name=spec.name,
        url="{{" + WEBHOOK_SECRET_KEY + "}}",
        method="POST",
        json_data=slack_payload(spec.color),
        headers={"Content-Type": "application/json"},
        timeout=10,
        secrets={WEBHOOK_SECRET_KEY: webhook_url},  # type: ignore[arg-type]
    )


def _block_state(block) -> tuple:
    return (
        block.url,
        block.method,
        block.json_data,
        block.headers,
        block.timeout,
        block.secrets.get_secret_value(),
    )


def _existing_block(name: str):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    try:
        return CustomWebhookNotificationBlock.load(name)
    except ValueError:  # Prefect raises ValueError when no document has that name
        return None


def _automation_core(spec: AutomationSpec, block_id: UUID):
    from prefect.automations import AutomationCore, SendNotification
    from prefect.events.schemas.automations import EventTrigger

    return AutomationCore(
        name=spec.name,
        description=spec.description,
        enabled=True,
        tags=list(spec.tags),
        trigger=EventTrigger.model_validate(spec.trigger),
        actions=[
            SendNotification(block_document_id=block_id, subject=spec.subject, body=spec.body)
        ],
    )


def _comparable(automation) -> dict:
    data = automation.model_dump(
        mode="json",
        include={"name", "description", "enabled", "tags", "trigger", "actions"},
    )
    trigger = data["trigger"]
    trigger.pop("id", None)
    for key in ("after", "expect", "for_each"):  # sets: their JSON order is arbitrary
        if key in trigger:
            trigger[key] = sorted(trigger[key])
    return data


def apply_alerting(policy: AlertPolicy, webhook_url: str, *, dry_run: bool = False) -> list[Change]:
    """Create or update the notification blocks and automations by name on the Prefect API
    in use; with `dry_run` only report what would change. Returns one Change per object."""
    from prefect.client.orchestration import get_client

    webhook_url = validate_webhook_url(webhook_url)
    policy = replace(policy, ui_url=resolve_ui_url(policy.ui_url))
    changes: list[Change] = []
    block_ids: dict[str, UUID] = {}
    for spec in block_specs():
        desired = _desired_block(spec, webhook_url)
        existing = _existing_block(spec.name)
        if existing is None:
            action = "create"
        elif _block_state(existing) != _block_state(desired):
            action = "update"
        else:
            action = "unchanged"
        if existing is not None:
            block_ids[spec.name] = existing._block_document_id
        if action != "unchanged" and not dry_run:
            block_ids[spec.name] = desired.save(spec.name, overwrite=True)
        changes.append(Change("block", spec.name, action))

    placeholder = UUID(int=0)  # dry run of a block not created yet
    with get_client(sync_client=True) as client:
        for automation in automation_specs(policy):
            desired = _automation_core(automation, block_ids.get(automation.block, placeholder))
            existing = client.read_automations_by_name(automation.name)
            keep, duplicates = (existing[0], existing[1:]) if existing else (None, [])
            if keep is None:
                action = "create"
            elif _comparable(keep) != _comparable(desired):
                action = "update"
            else:
                action = "unchanged"
            changes.append(Change("automation", automation.name, action))
            changes += [
                Change("automation", automation.name, "delete duplicate") for _ in duplicates
            ]
            if dry_run:
                continue
            if action == "create":
                client.create_automation(desired)
            elif action == "update" and keep is not None:  # "update" implies an existing one
                client.update_automation(keep.id, desired)
            for duplicate in duplicates:
                client.delete_automation(duplicate.id)
    return changes
