"""The Lambda handler end to end: secret from a moto Secrets Manager, message to a loopback
HTTP receiver standing in for Slack, flow-run state from a loopback Prefect API stub."""

from __future__ import annotations

import copy
import json
import logging
import re
import traceback
import uuid
from pathlib import Path

import boto3
import handler
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from outbound import SlackDeliveryError

from tests.infra.conftest import EVENTS_DIR, sample_event
from tests.infra.test_ecs_alert import FAILED_TO_START_TEXT, OOM_TEXT
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

CLUSTER = "arn:aws:ecs:ap-northeast-1:111122223333:cluster/pulsewatch"
RUN_ID = "0b7c6c53-3c1e-4f6b-9d0e-5a8f1e2d3c4b"
API_KEY = "pnu_test_key_not_real"


def flow_run(state_type: str, state_name: str) -> bytes:
    """The fields of Prefect 3's FlowRunResponse (GET /api/flow_runs/{id}) the notifier reads,
    plus enough of the rest to look like the real answer."""
    return json.dumps(
        {
            "id": RUN_ID,
            "name": "sturdy-okapi",
            "flow_id": "5d1e3c2b-0000-4000-8000-000000000001",
            "deployment_id": "5d1e3c2b-0000-4000-8000-000000000002",
            "state_type": state_type,
            "state_name": state_name,
            "state": {
                "id": "5d1e3c2b-0000-4000-8000-000000000003",
                "type": state_type,
                "name": state_name,
                "timestamp": "2026-11-28T15:42:09.120000Z",
                "message": None,
                "state_details": {"flow_run_id": RUN_ID},
            },
        }
    ).encode()


@pytest.fixture
def slack(aws, start_receiver, monkeypatch):
    """Slack receiver + the webhook secret in moto + the Lambda's environment."""
    receiver = start_receiver()
    receiver.token = uuid.uuid4().hex
    receiver.webhook_path = f"/services/T000/B000/{receiver.token}"
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(
        Name=f"test/slack-webhook-{receiver.token}",
        SecretString=f"{receiver.url}{receiver.webhook_path}\n",
    )["ARN"]
    receiver.secret_arn = arn
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", arn)
    monkeypatch.setenv("CLUSTER_ARN", CLUSTER)
    monkeypatch.setenv("LOG_GROUP_NAME", "/ecs/pulsewatch")
    monkeypatch.setenv("LOG_STREAM_PREFIX", "pulsewatch")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_KEY_SECRET_ARN", raising=False)
    handler._secret_cache.clear()
    yield receiver
    handler._secret_cache.clear()


@pytest.fixture
def prefect(slack, start_receiver, monkeypatch):
    """A Prefect API stub; the test sets `prefect.state` to what it should answer."""
    stub = start_receiver()
    stub.state = ("RUNNING", "Running")
    stub.respond = lambda request: (200, flow_run(*stub.state))
    arn = boto3.client("secretsmanager").create_secret(
        Name=f"test/prefect-key-{uuid.uuid4().hex}", SecretString=API_KEY
    )["ARN"]
    monkeypatch.setenv("PREFECT_API_URL", f"{stub.url}/api")
    monkeypatch.setenv("PREFECT_API_KEY_SECRET_ARN", arn)
    return stub


def slack_texts(receiver) -> list[str]:
    for request in receiver.requests:
        assert request.method == "POST"
        assert request.path == receiver.webhook_path
        assert request.headers["content-type"] == "application/json"
    return [request.json()["text"] for request in receiver.requests]


def test_oom_event_reaches_slack_with_the_exact_text(slack):
    assert handler.handler(sample_event("oom_killed_137.json"), None) == {"status": "sent"}
    assert slack_texts(slack) == [OOM_TEXT.replace(" (Prefect state: Running)", "")]


def test_failed_to_start_reaches_slack(slack):
    handler.handler(sample_event("task_failed_to_start.json"), None)
    assert slack_texts(slack) == [FAILED_TO_START_TEXT]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (sample_event("exit0.json"), "task stopped with no non-zero container exit code"),
        (sample_event("running.json"), "lastStatus is 'RUNNING', not 'STOPPED'"),
        (
            {**sample_event("oom_killed_137.json"), "source": "my.app"},
            "source is 'my.app', not 'aws.ecs'",
        ),
        (
            sample_event("essential_container_exit1.json"),
            "task belongs to cluster 'arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster'",
        ),
        ('{"detail": ', "event is not JSON (Expecting value)"),
    ],
    ids=["exit0", "running", "other-source", "other-cluster", "malformed"],
)
def test_events_that_must_not_alert_are_logged_and_skipped(slack, caplog, event, reason):
    caplog.set_level(logging.INFO, logger="slack_notifier")
    assert handler.handler(event, None) == {"status": "ignored", "reason": reason}
    assert slack.requests == []
    assert reason in caplog.text


def test_slack_error_raises_for_lambda_retry_and_never_leaks_the_webhook(slack, caplog):
    caplog.set_level(logging.DEBUG)
    slack.respond = lambda request: (404, b"no_service")
    with pytest.raises(SlackDeliveryError) as caught:
        handler.handler(sample_event("oom_killed_137.json"), None)
    assert str(caught.value) == "Slack answered HTTP 404: no_service"
    shown = "".join(traceback.format_exception(caught.value)) + caplog.text
    assert slack.token not in shown
    assert "/services/" not in shown


def test_unreachable_slack_raises(slack):
    slack.requests.clear()
    secrets = boto3.client("secretsmanager")
    # A port nothing listens on: take one from the OS and close it again.
    dead_port = free_port()
    secrets.put_secret_value(
        SecretId=slack.secret_arn, SecretString=f"http://127.0.0.1:{dead_port}/services/x"
    )
    with pytest.raises(SlackDeliveryError, match=r"^Slack unreachable: ConnectionRefusedError$"):
        handler.handler(sample_event("oom_killed_137.json"), None)


def test_webhook_secret_is_cached_across_invocations(slack, start_receiver, monkeypatch):
    handler.handler(sample_event("oom_killed_137.json"), None)
    moved = start_receiver()
    boto3.client("secretsmanager").put_secret_value(
        SecretId=slack.secret_arn, SecretString=f"{moved.url}/services/T000/B000/new"
    )
    handler.handler(sample_event("oom_killed_137.json"), None)
    assert len(slack.requests) == 2 and moved.requests == []  # warm Lambda: no new secret read

    monkeypatch.setattr(handler, "SECRET_TTL_SECONDS", 0.0)
    handler.handler(sample_event("oom_killed_137.json"), None)
    assert [r.path for r in moved.requests] == ["/services/T000/B000/new"]


def test_non_http_webhook_is_refused_without_echoing_it(slack):
    boto3.client("secretsmanager").put_secret_value(
        SecretId=slack.secret_arn, SecretString="file:///etc/passwd"
    )
    from outbound import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"^the Slack webhook secret is not an http"):
        handler.handler(sample_event("oom_killed_137.json"), None)


@pytest.mark.parametrize(
    ("state", "name"),
    [
        ("FAILED", "Failed"),
        ("FAILED", "TimedOut"),
        ("CRASHED", "Crashed"),
        ("COMPLETED", "Completed"),
        ("CANCELLED", "Cancelled"),
    ],
)
def test_runs_prefect_saw_finish_are_left_to_the_prefect_automations(
    slack, prefect, caplog, state, name
):
    caplog.set_level(logging.INFO, logger="slack_notifier")
    prefect.state = (state, name)
    result = handler.handler(sample_event("oom_killed_137.json"), None)
    assert result == {"status": "suppressed", "reason": f"Prefect state {name}"}
    assert slack.requests == []
    (lookup,) = prefect.requests
    assert (lookup.method, lookup.path) == ("GET", f"/api/flow_runs/{RUN_ID}")
    assert lookup.headers["authorization"] == f"Bearer {API_KEY}"
    assert f"Prefect recorded flow run {RUN_ID} as {name}" in caplog.text
    assert API_KEY not in caplog.text


def test_a_run_prefect_still_thinks_is_running_is_reported(slack, prefect):
    prefect.state = ("RUNNING", "Running")
    handler.handler(sample_event("oom_killed_137.json"), None)
    assert slack_texts(slack) == [OOM_TEXT]


def test_a_failed_prefect_lookup_still_alerts(slack, prefect):
    prefect.respond = lambda request: (503, b"upstream unavailable")
    handler.handler(sample_event("oom_killed_137.json"), None)
    assert slack_texts(slack) == [
        OOM_TEXT.replace(
            "(Prefect state: Running)",
            "(Prefect state: unknown, lookup failed: Prefect API answered HTTP 503)",
        )
    ]


def test_tasks_without_a_flow_run_id_do_not_ask_prefect(slack, prefect, monkeypatch):
    event = sample_event("oom_killed_137.json")
    event["detail"]["overrides"] = {"containerOverrides": [{"name": "prefect"}]}
    handler.handler(event, None)
    assert prefect.requests == []
    assert len(slack.requests) == 1
    assert "Prefect flow run" not in slack_texts(slack)[0]


# --------------------------------------------------------------------------- malformed events
# Issue 15 (item 10): events whose nested fields have the wrong JSON type. Starting from every
# committed sample event and the shared AWS-documentation fixture, hypothesis replaces nested
# fields with values of another type (or deletes keys); the handler must never raise, must still
# report every container that is well formed and failed, and must log each bad field it read.

FIXTURE = Path("/work/shared/fixtures/ecs_task_stopped_exit1.json")
BASE_EVENTS = [
    *(sample_event(path.name) for path in sorted(EVENTS_DIR.glob("*.json"))),
    *([json.loads(FIXTURE.read_text())] if FIXTURE.exists() else []),
]
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
# Python types standing for JSON types; an int where an exit code is expected is the right type,
# a float is not.
_KINDS = (bool, int, float, str, list, dict)


def _kind(value: object) -> type | None:
    return next((kind for kind in _KINDS if type(value) is kind), None)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _get(value: object, path: tuple) -> object:
    for step in path:
        value = value[step]  # type: ignore[index]
    return value


def _read_field(path: tuple) -> str | None:
    """The notifier's name for `path` when it is a field the notifier reads, else None.
    Written from the ECS event documentation, independently of ecs_alert's tables."""
    text = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)[1:]
    patterns = [
        r"(id|source|detail-type|region|detail)",
        r"detail\.(clusterArn|taskArn|taskDefinitionArn|lastStatus|stopCode|stoppedReason"
        r"|containers|overrides)",
        r"detail\.containers\[\d+\](\.(name|reason|exitCode))?",
        r"detail\.overrides\.containerOverrides(\[\d+\](\.environment(\[\d+\](\.(name|value))?)?)?)?",
    ]
    return text if any(re.fullmatch(p, text) for p in patterns) else None


@st.composite
def malformed_events(draw):
    """(event, base, replaced): a sample event with 1-3 nested fields replaced by a value of
    another type or deleted, the event it came from, and the paths replaced."""
    base = draw(st.sampled_from(BASE_EVENTS))
    event = copy.deepcopy(base)
    replaced: list[tuple] = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(event)))
        holder = _get(event, path[:-1])
        original = holder[path[-1]]
        if isinstance(holder, dict) and draw(st.booleans()):
            del holder[path[-1]]
            continue
        holder[path[-1]] = draw(
            JSON_VALUES.filter(lambda v, o=original: v is not None and _kind(v) is not _kind(o))
        )
        replaced.append(path)
    return event, base, replaced


def _failing_containers(event: dict) -> list[tuple[str, int]]:
    """(name as shown, exit code) of every well-formed failed container of an alertable event."""
    detail = event.get("detail")
    if not isinstance(detail, dict) or not (
        event.get("source") == "aws.ecs"
        and event.get("detail-type") == "ECS Task State Change"
        and detail.get("lastStatus") == "STOPPED"
    ):
        return []
    containers = detail.get("containers")
    found = []
    for container in containers if isinstance(containers, list) else []:
        if isinstance(container, dict) and type(container.get("exitCode")) is int:
            name = container.get("name")
            if container["exitCode"] > 0:
                found.append(
                    (name if isinstance(name, str) else "(unnamed)", container["exitCode"])
                )
    return found


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=malformed_events())
def test_malformed_events_never_crash_and_keep_every_failed_container(
    slack, monkeypatch, caplog, case
):
    event, base, replaced = case
    monkeypatch.delenv("CLUSTER_ARN", raising=False)  # the shared fixture is from another cluster
    caplog.clear()
    caplog.set_level(logging.INFO, logger="slack_notifier")
    slack.requests.clear()

    result = handler.handler(event, None)  # must not raise

    failing = _failing_containers(event)
    texts = slack_texts(slack)
    if failing:
        assert result == {"status": "sent"}
        (text,) = texts
        lines = text.splitlines()
        for name, code in failing:
            shown = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            assert any(line.startswith(f"• {shown}: exit code {code} - ") for line in lines), (
                name,
                code,
                text,
            )
    else:
        assert result["status"] in {"sent", "ignored"}
        assert len(texts) == (1 if result["status"] == "sent" else 0)
    if not isinstance(event.get("detail"), dict):
        # Nothing is read field by field: the one line says the event has no detail.
        assert "ignored malformed event: event has no 'detail' object" in caplog.text
        return
    for path in replaced:
        field = _read_field(path)
        try:
            now = _get(event, path)
        except (KeyError, IndexError, TypeError):
            continue  # a later mutation replaced or removed what held it
        if field and now is not None and _kind(now) is not _kind(_get(base, path)):
            assert field in caplog.text, (field, caplog.text)


def test_issue_15_event_reaches_slack_with_the_oom_line_and_what_was_left_out(slack, caplog):
    """All five malformed shapes of the issue in one event: the 137 alert still goes out."""
    caplog.set_level(logging.INFO, logger="slack_notifier")
    event = sample_event("oom_killed_137.json")
    detail = event["detail"]
    detail["taskArn"] = 42
    detail["containers"].append({"name": "otel", "exitCode": [1]})
    detail["overrides"] = [detail["overrides"]]
    assert handler.handler(event, None) == {"status": "sent"}
    (text,) = slack_texts(slack)
    lines = text.splitlines()
    assert lines[5] == (
        "• prefect: exit code 137 - killed (SIGKILL): probably out of memory, raise the task"
        " memory (OutOfMemoryError: Container killed due to memory usage)"
    )
    assert "Task: (unknown)" in lines
    skipped = (
        "detail.taskArn is a number, not a string; "
        "detail.containers[1].exitCode is an array, not an integer; "
        "detail.overrides is an array, not an object"
    )
    assert lines[-1] == f"Left out of this message (malformed in the event): {skipped}"
    assert f"left out malformed fields: {skipped}" in caplog.text


def test_delivery_failure_on_a_malformed_event_still_raises(slack):
    slack.respond = lambda request: (500, b"boom")
    event = sample_event("oom_killed_137.json")
    event["detail"]["overrides"] = "junk"
    with pytest.raises(SlackDeliveryError, match=r"^Slack answered HTTP 500: boom$"):
        handler.handler(event, None)
