"""Pure functions: decide whether an ECS task-state event deserves a Slack alert, and word it.

Nothing here does I/O, reads the environment or knows about Lambda, so every branch is tested
with plain dictionaries (tests/infra/test_ecs_alert.py).
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

ECS_SOURCE = "aws.ecs"
TASK_STATE_CHANGE = "ECS Task State Change"
TASK_FAILED_TO_START = "TaskFailedToStart"
FLOW_RUN_ENV = "PREFECT__FLOW_RUN_ID"  # set by the Prefect ECS worker in the container overrides

# Prefect's terminal state types (prefect.server.schemas.states.TERMINAL_STATES). Once a flow run
# reached one of them, Prefect saw the end of the run: its automations report Failed / Crashed /
# TimedOut, and Completed / Cancelled are not failures. Anything else (Running, Pending, ...)
# means Prefect lost track of the run, which is exactly what this fallback exists for.
PREFECT_FINAL_STATE_TYPES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})

_EXIT_CODE_HINTS = {
    1: "the program failed; its log stream has the traceback",
    137: "killed (SIGKILL): probably out of memory, raise the task memory",
    139: "segmentation fault in native code",
    143: "terminated (SIGTERM): stopped by ECS, a Spot interruption or a cancellation",
}


class MalformedEventError(ValueError):
    """The Lambda was invoked with something that is not an ECS task-state event."""


def parse_event(raw: Any) -> dict[str, Any]:
    """Return the event as a dict, or raise MalformedEventError saying what is wrong with it."""
    if isinstance(raw, str | bytes | bytearray):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise MalformedEventError(f"event is not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise MalformedEventError(f"event is a {type(raw).__name__}, not a JSON object")
    detail = raw.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEventError("event has no 'detail' object")
    containers = detail.get("containers", [])
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        raise MalformedEventError("'detail.containers' is not a list of objects")
    return raw


def _failed(exit_code: Any) -> bool:
    # bool is an int subclass; a JSON true is not an exit code.
    return isinstance(exit_code, int) and not isinstance(exit_code, bool) and exit_code > 0


def reason_to_ignore(event: dict[str, Any], cluster_arn: str | None = None) -> str | None:
    """None when the event deserves an alert, otherwise the reason to skip it.

    Mirrors the EventBridge rule (infra/template.yaml, TaskStoppedRule), so a widened rule or a
    hand-made test invocation cannot make the Lambda noisy.
    """
    if event.get("source") != ECS_SOURCE:
        return f"source is {event.get('source')!r}, not {ECS_SOURCE!r}"
    if event.get("detail-type") != TASK_STATE_CHANGE:
        return f"detail-type is {event.get('detail-type')!r}, not {TASK_STATE_CHANGE!r}"
    detail = event["detail"]
    if cluster_arn and detail.get("clusterArn") != cluster_arn:
        return f"task belongs to cluster {detail.get('clusterArn')!r}"
    if detail.get("lastStatus") != "STOPPED":
        return f"lastStatus is {detail.get('lastStatus')!r}, not 'STOPPED'"
    if detail.get("stopCode") == TASK_FAILED_TO_START:
        return None
    if any(_failed(c.get("exitCode")) for c in detail.get("containers", [])):
        return None
    return "task stopped with no non-zero container exit code"


def flow_run_id(event: dict[str, Any]) -> str | None:
    """The task's Prefect flow-run id from its container overrides; None if absent or invalid."""
    overrides = event["detail"].get("overrides") or {}
    for container in overrides.get("containerOverrides") or []:
        for variable in container.get("environment") or []:
            if variable.get("name") == FLOW_RUN_ENV:
                try:
                    return str(uuid.UUID(str(variable.get("value"))))
                except ValueError:
                    return None
    return None


def exit_code_hint(exit_code: Any, stop_code: str | None) -> str:
    """Plain-language meaning of a container's exit code."""
    if exit_code is None:
        if stop_code == TASK_FAILED_TO_START:
            return "never started: image pull, network or secrets problem (see the stopped reason)"
        return "no exit code reported"
    if exit_code == 0:
        return "exited normally"
    return _EXIT_CODE_HINTS.get(exit_code, "the program failed; see its log stream")


def log_stream_url(region: str, log_group: str, log_stream: str) -> str:
    """CloudWatch console link to one log stream.

    The console's fragment wants each name URL-encoded twice with '%' written as '$'
    ('/ecs/x' -> '$252Fecs$252Fx'); no library builds these links, hence this function.
    """

    def encode(name: str) -> str:
        return quote(quote(name, safe=""), safe="").replace("%", "$")

    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{encode(log_group)}/log-events/{encode(log_stream)}"
    )


def _arn_tail(arn: Any) -> str:
    """'arn:aws:ecs:r:a:cluster/name' -> 'name'; 'task-definition/fam:3' -> 'fam:3'."""
    if not isinstance(arn, str) or not arn:
        return "(unknown)"
    return arn.rsplit("/", 1)[-1]


def _slack_escape(text: str) -> str:
    # Slack's message formatting reserves these three characters; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_message(
    event: dict[str, Any],
    *,
    log_group: str | None,
    log_stream_prefix: str | None,
    prefect_state: str | None = None,
) -> str:
    """The Slack text for a task that stopped badly.

    prefect_state is what the caller learned about the flow run ("Running", "unknown (...)") or
    None when it did not ask.
    """
    detail = event["detail"]
    task_arn = detail.get("taskArn") or "(unknown)"
    stop_code = detail.get("stopCode")
    region = event.get("region") or (task_arn.split(":")[3] if task_arn.count(":") >= 5 else "")
    task_id = _arn_tail(task_arn)

    lines = [
        f":rotating_light: pulsewatch ECS task stopped badly on cluster "
        f"{_arn_tail(detail.get('clusterArn'))} (AWS fallback alert)",
        f"Task definition: {_arn_tail(detail.get('taskDefinitionArn'))}",
        f"Stop code: {stop_code or '(none)'}",
        f"Stopped reason: {detail.get('stoppedReason') or '(none)'}",
        "Containers:",
    ]
    containers = detail.get("containers", [])
    for container in containers:
        code = container.get("exitCode")
        shown = "no exit code" if code is None else f"exit code {code}"
        line = (
            f"• {container.get('name', '(unnamed)')}: {shown} - {exit_code_hint(code, stop_code)}"
        )
        if container.get("reason"):
            line += f" ({container['reason']})"
        lines.append(line)
    if not containers:
        lines.append("• (none reported)")

    run_id = flow_run_id(event)
    if run_id:
        state = f" (Prefect state: {prefect_state})" if prefect_state else ""
        lines.append(f"Prefect flow run: {run_id}{state}")
    lines.append(f"Task: {task_arn}")

    for container in containers:
        name = container.get("name", "(unnamed)")
        if log_group and log_stream_prefix and region:
            stream = f"{log_stream_prefix}/{name}/{task_id}"
            lines.append(f"Logs ({name}): {log_stream_url(region, log_group, stream)}")
        else:
            lines.append(f"Logs ({name}): log group not configured")
    return _slack_escape("\n".join(lines))
