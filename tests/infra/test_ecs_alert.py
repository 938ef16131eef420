"""The notifier's pure functions: which events alert, and the exact Slack text."""

from __future__ import annotations

import copy

import ecs_alert
import pytest
from ecs_alert import (
    MalformedEventError,
    build_message,
    exit_code_hint,
    flow_run_id,
    log_stream_url,
    parse_event,
    reason_to_ignore,
)

from tests.infra.conftest import sample_event

pytestmark = pytest.mark.unit

CLUSTER = "arn:aws:ecs:ap-northeast-1:111122223333:cluster/pulsewatch"
RUN_ID = "0b7c6c53-3c1e-4f6b-9d0e-5a8f1e2d3c4b"
LOGS = {"log_group": "/ecs/pulsewatch", "log_stream_prefix": "pulsewatch"}
CONSOLE = "https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1"

OOM_TEXT = (
    ":rotating_light: pulsewatch ECS task stopped badly on cluster pulsewatch (AWS fallback alert)\n"
    "Task definition: prefect_pulsewatch-ecs_nightly:7\n"
    "Stop code: EssentialContainerExited\n"
    "Stopped reason: Essential container in task exited\n"
    "Containers:\n"
    "• prefect: exit code 137 - killed (SIGKILL): probably out of memory, raise the task memory"
    " (OutOfMemoryError: Container killed due to memory usage)\n"
    "Prefect flow run: 0b7c6c53-3c1e-4f6b-9d0e-5a8f1e2d3c4b (Prefect state: Running)\n"
    "Task: arn:aws:ecs:ap-northeast-1:111122223333:task/pulsewatch/5f1d2c3b4a5e4f60b7c8d9e0f1a2b3c4\n"
    f"Logs (prefect): {CONSOLE}#logsV2:log-groups/log-group/$252Fecs$252Fpulsewatch/log-events/"
    "pulsewatch$252Fprefect$252F5f1d2c3b4a5e4f60b7c8d9e0f1a2b3c4"
)

FAILED_TO_START_TEXT = (
    ":rotating_light: pulsewatch ECS task stopped badly on cluster pulsewatch (AWS fallback alert)\n"
    "Task definition: prefect_pulsewatch-ecs_nightly:7\n"
    "Stop code: TaskFailedToStart\n"
    "Stopped reason: ResourceInitializationError: unable to pull secrets or registry auth: execution"
    " resource retrieval failed: unable to retrieve secret from asm: service call has been retried"
    " 5 time(s): RequestCanceled: request context canceled caused by: context deadline exceeded\n"
    "Containers:\n"
    "• prefect: no exit code - never started: image pull, network or secrets problem"
    " (see the stopped reason)\n"
    "Prefect flow run: 0b7c6c53-3c1e-4f6b-9d0e-5a8f1e2d3c4b\n"
    "Task: arn:aws:ecs:ap-northeast-1:111122223333:task/pulsewatch/9a8b7c6d5e4f40312a1b2c3d4e5f6a7b\n"
    f"Logs (prefect): {CONSOLE}#logsV2:log-groups/log-group/$252Fecs$252Fpulsewatch/log-events/"
    "pulsewatch$252Fprefect$252F9a8b7c6d5e4f40312a1b2c3d4e5f6a7b"
)

# The shared fixture (AWS documentation's sample): another region, no Prefect flow-run id.
EXIT1_TEXT = (
    ":rotating_light: pulsewatch ECS task stopped badly on cluster FargateCluster (AWS fallback alert)\n"
    "Task definition: sample-fargate:1\n"
    "Stop code: EssentialContainerExited\n"
    "Stopped reason: Essential container in task exited\n"
    "Containers:\n"
    "• FargateApp: exit code 1 - the program failed; its log stream has the traceback\n"
    "Task: arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad\n"
    "Logs (FargateApp): https://us-west-2.console.aws.amazon.com/cloudwatch/home?region=us-west-2"
    "#logsV2:log-groups/log-group/$252Fecs$252Fpulsewatch/log-events/"
    "pulsewatch$252FFargateApp$252Fc13b4cb40f1f4fe4a2971f76ae5a47ad"
)


def test_oom_message_names_everything_an_on_call_engineer_needs():
    text = build_message(sample_event("oom_killed_137.json"), prefect_state="Running", **LOGS)
    assert text == OOM_TEXT


def test_failed_to_start_message_points_at_pull_network_or_secrets():
    assert build_message(sample_event("task_failed_to_start.json"), **LOGS) == FAILED_TO_START_TEXT


def test_shared_fixture_message():
    assert build_message(sample_event("essential_container_exit1.json"), **LOGS) == EXIT1_TEXT


def test_every_container_gets_its_line_and_log_link():
    event = sample_event("oom_killed_137.json")
    sidecar = {"name": "otel", "exitCode": 0, "lastStatus": "STOPPED"}
    event["detail"]["containers"].append(sidecar)
    lines = build_message(event, **LOGS).splitlines()
    assert "• otel: exit code 0 - exited normally" in lines
    assert [line.split(":")[0] for line in lines if line.startswith("Logs")] == [
        "Logs (prefect)",
        "Logs (otel)",
    ]


def test_without_log_configuration_the_message_says_so():
    text = build_message(
        sample_event("oom_killed_137.json"), log_group=None, log_stream_prefix="pulsewatch"
    )
    assert text.splitlines()[-1] == "Logs (prefect): log group not configured"


def test_slack_control_characters_in_aws_text_are_escaped():
    event = sample_event("task_failed_to_start.json")
    event["detail"]["stoppedReason"] = "CannotPullContainerError: <nil> & retry"
    line = build_message(event, **LOGS).splitlines()[3]
    assert line == "Stopped reason: CannotPullContainerError: &lt;nil&gt; &amp; retry"


@pytest.mark.parametrize(
    ("exit_code", "stop_code", "hint"),
    [
        (
            137,
            "EssentialContainerExited",
            "killed (SIGKILL): probably out of memory, raise the task memory",
        ),
        (1, "EssentialContainerExited", "the program failed; its log stream has the traceback"),
        (
            143,
            "SpotInterruption",
            "terminated (SIGTERM): stopped by ECS, a Spot interruption or a cancellation",
        ),
        (139, "EssentialContainerExited", "segmentation fault in native code"),
        (2, "EssentialContainerExited", "the program failed; see its log stream"),
        (0, "EssentialContainerExited", "exited normally"),
        (
            None,
            "TaskFailedToStart",
            "never started: image pull, network or secrets problem (see the stopped reason)",
        ),
        (None, "EssentialContainerExited", "no exit code reported"),
    ],
)
def test_exit_code_hints(exit_code, stop_code, hint):
    assert exit_code_hint(exit_code, stop_code) == hint


@pytest.mark.parametrize(
    "name", ["oom_killed_137.json", "task_failed_to_start.json", "essential_container_exit1.json"]
)
def test_bad_stops_alert(name):
    assert reason_to_ignore(sample_event(name)) is None


def test_one_failed_container_among_clean_ones_alerts():
    event = sample_event("exit0.json")
    event["detail"]["containers"].append({"name": "sidecar", "exitCode": 3})
    assert reason_to_ignore(event, CLUSTER) is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e, "task stopped with no non-zero container exit code"),
        (lambda e: e.update(source="aws.ec2"), "source is 'aws.ec2', not 'aws.ecs'"),
        (
            lambda e: e.update({"detail-type": "ECS Container Instance State Change"}),
            "detail-type is 'ECS Container Instance State Change', not 'ECS Task State Change'",
        ),
        (
            lambda e: e["detail"].update(clusterArn="arn:aws:ecs:ap-northeast-1:1:cluster/other"),
            "task belongs to cluster 'arn:aws:ecs:ap-northeast-1:1:cluster/other'",
        ),
        (
            lambda e: e["detail"]["containers"][0].update(exitCode=True),
            "task stopped with no non-zero container exit code",
        ),
    ],
)
def test_events_that_do_not_alert_say_why(mutate, reason):
    event = sample_event("exit0.json")
    mutate(event)
    assert reason_to_ignore(event, CLUSTER) == reason


def test_running_task_does_not_alert():
    assert reason_to_ignore(sample_event("running.json"), CLUSTER) == (
        "lastStatus is 'RUNNING', not 'STOPPED'"
    )


def test_flow_run_id_comes_from_the_container_overrides():
    assert flow_run_id(sample_event("oom_killed_137.json")) == RUN_ID
    assert flow_run_id(sample_event("essential_container_exit1.json")) is None


def test_a_flow_run_id_that_is_not_a_uuid_is_ignored():
    event = sample_event("oom_killed_137.json")
    env = event["detail"]["overrides"]["containerOverrides"][0]["environment"]
    env[0]["value"] = "../../admin"
    assert flow_run_id(event) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "event is not JSON (Expecting property name enclosed in double quotes)"),
        ([1, 2], "event is an array, not a JSON object"),
        ({"source": "aws.ecs"}, "event has no 'detail' object"),
        ({"source": "aws.ecs", "detail": [1]}, "event has no 'detail' object"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(raw, message):
    with pytest.raises(MalformedEventError) as caught:
        parse_event(raw)
    assert str(caught.value) == message


def test_a_json_string_event_is_parsed():
    event = sample_event("oom_killed_137.json")
    import json

    assert parse_event(json.dumps(event)) == (event, [])


def oom_with(mutate) -> dict:
    event = sample_event("oom_killed_137.json")
    mutate(event["detail"])
    return event


def _env(detail: dict) -> list:
    return detail["overrides"]["containerOverrides"][0]["environment"]


# The malformed shapes of issue 15 (item 10): each crashed the notifier before.
@pytest.mark.parametrize(
    ("mutate", "skipped"),
    [
        (
            lambda d: d.update(overrides=[d["overrides"]]),
            "detail.overrides is an array, not an object",
        ),
        (
            lambda d: d["overrides"].update(
                containerOverrides=d["overrides"]["containerOverrides"][0]
            ),
            "detail.overrides.containerOverrides is an object, not an array",
        ),
        (
            lambda d: _env(d).__setitem__(0, "PREFECT__FLOW_RUN_ID=" + RUN_ID),
            "detail.overrides.containerOverrides[0].environment[0] is a string, not an object",
        ),
        (
            lambda d: _env(d)[0].update(value=7),
            "detail.overrides.containerOverrides[0].environment[0].value is a number, not a string",
        ),
    ],
    ids=["overrides-list", "containerOverrides-dict", "env-string", "env-value-number"],
)
def test_malformed_overrides_lose_only_the_flow_run_id(mutate, skipped):
    event, notes = parse_event(oom_with(mutate))
    assert notes == [skipped]
    assert flow_run_id(event) is None
    assert reason_to_ignore(event, CLUSTER) is None
    text = build_message(event, skipped=notes, **LOGS)
    assert text == OOM_TEXT.replace(
        "Prefect flow run: 0b7c6c53-3c1e-4f6b-9d0e-5a8f1e2d3c4b (Prefect state: Running)\n", ""
    ) + ("\nLeft out of this message (malformed in the event): " + skipped)


def test_numeric_task_arn_is_left_out_and_the_region_comes_from_the_event():
    event, notes = parse_event(oom_with(lambda d: d.update(taskArn=1234)))
    assert notes == ["detail.taskArn is a number, not a string"]
    lines = build_message(event, skipped=notes, **LOGS).splitlines()
    assert "Task: (unknown)" in lines
    assert lines[-2].startswith(f"Logs (prefect): {CONSOLE}#logsV2:")


def test_a_malformed_second_container_keeps_the_first_containers_oom_alert():
    event = oom_with(lambda d: d["containers"].append({"name": "otel", "exitCode": [1]}))
    parsed, notes = parse_event(event)
    assert notes == ["detail.containers[1].exitCode is an array, not an integer"]
    assert reason_to_ignore(parsed, CLUSTER) is None
    lines = build_message(parsed, skipped=notes, **LOGS).splitlines()
    assert lines[5] == (
        "• prefect: exit code 137 - killed (SIGKILL): probably out of memory, raise the task"
        " memory (OutOfMemoryError: Container killed due to memory usage)"
    )
    assert lines[6] == "• otel: no exit code - no exit code reported"
    assert lines[-1] == (
        "Left out of this message (malformed in the event): "
        "detail.containers[1].exitCode is an array, not an integer"
    )


def test_non_object_containers_are_skipped_by_their_index_as_sent():
    event = oom_with(lambda d: d["containers"].insert(0, "prefect"))
    event["detail"]["containers"].append({"name": 5, "exitCode": 2, "reason": ["x"]})
    parsed, notes = parse_event(event)
    assert notes == [
        "detail.containers[0] is a string, not an object",
        "detail.containers[2].name is a number, not a string",
        "detail.containers[2].reason is an array, not a string",
    ]
    lines = build_message(parsed, **LOGS).splitlines()
    assert "• (unnamed): exit code 2 - the program failed; see its log stream" in lines
    assert event["detail"]["containers"][0] == "prefect"  # the caller's event is untouched


def test_containers_that_are_not_an_array_leave_a_failed_start_reportable():
    event = sample_event("task_failed_to_start.json")
    event["detail"]["containers"] = "prefect"
    parsed, notes = parse_event(event)
    assert notes == ["detail.containers is a string, not an array"]
    assert reason_to_ignore(parsed, CLUSTER) is None
    assert "• (none reported)" in build_message(parsed, **LOGS).splitlines()


def test_log_stream_url_double_encodes_for_the_console():
    assert log_stream_url("eu-west-1", "/ecs/a b", "p/c/1") == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Fecs$252Fa$2520b/log-events/p$252Fc$252F1"
    )


@pytest.mark.prefect
def test_final_state_types_match_prefect():
    from prefect.server.schemas.states import TERMINAL_STATES

    assert {state.value for state in TERMINAL_STATES} == ecs_alert.PREFECT_FINAL_STATE_TYPES


def test_build_message_does_not_mutate_the_event():
    event = sample_event("oom_killed_137.json")
    before = copy.deepcopy(event)
    build_message(event, **LOGS)
    assert event == before
