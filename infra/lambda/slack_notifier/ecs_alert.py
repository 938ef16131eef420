"""Pure functions: decide whether an ECS task-state event deserves a Slack alert, and word it.

Nothing here does I/O, reads the environment or knows about Lambda, so every branch is tested
with plain dictionaries (tests/infra/test_ecs_alert.py).
"""

from __future__ import annotations

import copy
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


# The fields this module reads, with the JSON type each must have. A field of another type is
# dropped from the working copy and named in the `skipped` list: one bad field (a container's
# exitCode sent as [1], overrides sent as a list) must not cost the alert for the rest.
_EVENT_STRINGS = ("id", "source", "detail-type", "region")
_DETAIL_STRINGS = (
    "clusterArn",
    "taskArn",
    "taskDefinitionArn",
    "lastStatus",
    "stopCode",
    "stoppedReason",
)
_CONTAINER_STRINGS = ("name", "reason")
_VARIABLE_STRINGS = ("name", "value")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _drop_unless(
    holder: dict[str, Any], key: str, path: str, ok: Any, expected: str, skipped: list[str]
) -> None:
    """Remove holder[key] (noting why) unless it is absent, null or passes `ok`."""
    value = holder.get(key)
    if value is not None and not ok(value):
        skipped.append(f"{path}{key} is {_json_type(value)}, not {expected}")
        del holder[key]


def _strings(holder: dict[str, Any], keys: tuple[str, ...], path: str, skipped: list[str]) -> None:
    for key in keys:
        _drop_unless(holder, key, path, lambda v: isinstance(v, str), "a string", skipped)


def _objects(
    holder: dict[str, Any], key: str, path: str, skipped: list[str]
) -> list[tuple[int, dict]]:
    """holder[key] reduced to its object items (a non-array becomes []), each with its index
    in the event as sent (so later notes name the right item); notes what went."""
    value = holder.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        skipped.append(f"{path}{key} is {_json_type(value)}, not an array")
        holder[key] = []
        return []
    kept = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            kept.append((index, item))
        else:
            skipped.append(f"{path}{key}[{index}] is {_json_type(item)}, not an object")
    holder[key] = [item for _, item in kept]
    return kept


def _clean(event: dict[str, Any]) -> list[str]:
    """Make `event` (a private copy) hold only well-typed values in the fields read here."""
    skipped: list[str] = []
    _strings(event, _EVENT_STRINGS, "", skipped)
    detail = event["detail"]
    _strings(detail, _DETAIL_STRINGS, "detail.", skipped)
    for index, container in _objects(detail, "containers", "detail.", skipped):
        path = f"detail.containers[{index}]."
        _strings(container, _CONTAINER_STRINGS, path, skipped)
        _drop_unless(container, "exitCode", path, _is_int, "an integer", skipped)
    _drop_unless(
        detail, "overrides", "detail.", lambda v: isinstance(v, dict), "an object", skipped
    )
    overrides = detail.get("overrides") or {}
    for index, override in _objects(overrides, "containerOverrides", "detail.overrides.", skipped):
        path = f"detail.overrides.containerOverrides[{index}]."
        for number, variable in _objects(override, "environment", path, skipped):
            _strings(variable, _VARIABLE_STRINGS, f"{path}environment[{number}].", skipped)
    return skipped


def parse_event(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """(event, skipped): a copy of the event whose fields read here all have their documented
    types, and one line per field left out because it did not (path and type, never its value).

    Raises MalformedEventError only when nothing can be reported: not JSON, not an object, or
    no 'detail' object.
    """
    if isinstance(raw, str | bytes | bytearray):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise MalformedEventError(f"event is not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise MalformedEventError(f"event is {_json_type(raw)}, not a JSON object")
    if not isinstance(raw.get("detail"), dict):
        raise MalformedEventError("event has no 'detail' object")
    event = copy.deepcopy(raw)
    return event, _clean(event)


def _is_int(value: Any) -> bool:
    # bool is an int subclass; a JSON true is not an exit code.
    return isinstance(value, int) and not isinstance(value, bool)


def _failed(exit_code: Any) -> bool:
    return _is_int(exit_code) and exit_code > 0


def reason_to_ignore(event: dict[str, Any], cluster_arn: str | None = None) -> str | None:
    """None when the event (from parse_event) deserves an alert, otherwise the reason to skip it.

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
    skipped: list[str] | None = None,
) -> str:
    """The Slack text for a task that stopped badly (the event as parse_event returns it).

    prefect_state is what the caller learned about the flow run ("Running", "unknown (...)") or
    None when it did not ask; skipped is parse_event's list of fields left out.
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
    if skipped:
        lines.append("Left out of this message (malformed in the event): " + "; ".join(skipped))
    return _slack_escape("\n".join(lines))
