"""Lambda entry point: ECS task stopped badly -> Slack, unless Prefect already reported the run.

Thin on purpose: parsing and wording live in ecs_alert.py (pure), HTTP in outbound.py.

Environment (set by infra/template.yaml):
  SLACK_WEBHOOK_SECRET_ARN    Secrets Manager secret holding the webhook URL (required)
  CLUSTER_ARN                 only tasks of this cluster are reported
  LOG_GROUP_NAME, LOG_STREAM_PREFIX   to link the containers' CloudWatch log streams
  PREFECT_API_URL             optional; with it, runs Prefect saw finish are not reported twice
  PREFECT_API_KEY_SECRET_ARN  optional secret holding the Prefect API key

De-duplication rule: the task's container overrides carry PREFECT__FLOW_RUN_ID. When the Prefect
API is configured, the notifier reads that flow run; if its state type is final (COMPLETED, FAILED,
CRASHED, CANCELLED) the Prefect automations own the alert and this one stays quiet. Otherwise -
no flow-run id, Prefect still says Running/Pending, or the lookup fails - it alerts: a fallback
that a broken Prefect could silence would not be a fallback.

A Slack delivery failure raises SlackDeliveryError: Lambda retries the asynchronous invocation and
then sends the event to the SQS dead-letter queue.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from ecs_alert import (
    PREFECT_FINAL_STATE_TYPES,
    MalformedEventError,
    build_message,
    flow_run_id,
    parse_event,
    reason_to_ignore,
)
from outbound import ConfigurationError, PrefectLookupError, post_to_slack, read_flow_run_state

LOG = logging.getLogger("slack_notifier")

SECRET_TTL_SECONDS = 300.0  # a rotated webhook is picked up within five minutes
_secret_cache: dict[str, tuple[float, str]] = {}


def read_secret(arn: str) -> str:
    """The secret's string value, cached across invocations of a warm Lambda."""
    cached = _secret_cache.get(arn)
    now = time.monotonic()
    if cached and now - cached[0] < SECRET_TTL_SECONDS:
        return cached[1]
    value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"].strip()
    _secret_cache[arn] = (now, value)
    return value


def _prefect_state(run_id: str) -> tuple[bool, str]:
    """(final, description) of the flow run according to the Prefect API."""
    api_url = os.environ["PREFECT_API_URL"]
    key_arn = os.environ.get("PREFECT_API_KEY_SECRET_ARN", "")
    try:
        api_key = read_secret(key_arn) if key_arn else None
        state = read_flow_run_state(api_url, api_key, run_id)
    except (PrefectLookupError, ConfigurationError, ClientError, BotoCoreError) as exc:
        LOG.warning("Prefect lookup of flow run %s failed, alerting anyway: %s", run_id, exc)
        return False, f"unknown, lookup failed: {exc}"
    return state.type in PREFECT_FINAL_STATE_TYPES, state.name


def handler(event: Any, context: Any) -> dict[str, str]:
    LOG.setLevel(logging.INFO)
    # botocore's DEBUG logging prints response bodies, SecretString included: keep it quiet even
    # when someone turns the function's log level up.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        event, skipped = parse_event(event)
    except MalformedEventError as exc:
        LOG.warning("ignored malformed event: %s", exc)
        return {"status": "ignored", "reason": str(exc)}
    if skipped:
        LOG.warning("event %s: left out malformed fields: %s", event.get("id"), "; ".join(skipped))

    reason = reason_to_ignore(event, os.environ.get("CLUSTER_ARN") or None)
    if reason:
        LOG.info("ignored event %s: %s", event.get("id"), reason)
        return {"status": "ignored", "reason": reason}

    task_arn = event["detail"].get("taskArn")
    run_id = flow_run_id(event)
    prefect_state = None
    if run_id and os.environ.get("PREFECT_API_URL"):
        final, prefect_state = _prefect_state(run_id)
        if final:
            LOG.info(
                "not alerting for task %s: Prefect recorded flow run %s as %s",
                task_arn,
                run_id,
                prefect_state,
            )
            return {"status": "suppressed", "reason": f"Prefect state {prefect_state}"}

    webhook_arn = os.environ.get("SLACK_WEBHOOK_SECRET_ARN")
    if not webhook_arn:
        raise ConfigurationError("SLACK_WEBHOOK_SECRET_ARN is not set")
    text = build_message(
        event,
        log_group=os.environ.get("LOG_GROUP_NAME"),
        log_stream_prefix=os.environ.get("LOG_STREAM_PREFIX"),
        prefect_state=prefect_state,
        skipped=skipped,
    )
    post_to_slack(read_secret(webhook_arn), text)
    LOG.info("alert sent to Slack for task %s", task_arn)
    return {"status": "sent"}
