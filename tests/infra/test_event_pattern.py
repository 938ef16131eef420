"""The EventBridge rule's pattern, matched against the sample events.

moto stores the pattern (test_stack_on_moto checks it arrives intact) but cannot evaluate it on
an array of containers, so its meaning is tested here with a small documented matcher.
"""

from __future__ import annotations

import copy
import json

import pytest
from ecs_alert import reason_to_ignore

from tests.infra.conftest import EVENTS_DIR, load_template, sample_event
from tests.support.eventbridge_pattern import matches

pytestmark = pytest.mark.unit

CLUSTER = "arn:aws:ecs:ap-northeast-1:111122223333:cluster/pulsewatch"


def rule_pattern(cluster_arn: str = CLUSTER) -> dict:
    """The template's pattern with the cluster's GetAtt resolved, as CloudFormation would."""
    pattern = copy.deepcopy(
        dict(load_template()["Resources"]["TaskStoppedRule"]["Properties"]["EventPattern"])
    )
    pattern = json.loads(json.dumps(pattern))
    assert pattern["detail"]["clusterArn"] == [{"Fn::GetAtt": ["Cluster", "Arn"]}]
    pattern["detail"]["clusterArn"] = [cluster_arn]
    return pattern


def test_pattern_shape():
    assert rule_pattern() == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [CLUSTER],
            "lastStatus": ["STOPPED"],
            "$or": [
                {"containers": {"exitCode": [{"numeric": [">", 0]}]}},
                {"stopCode": ["TaskFailedToStart"]},
            ],
        },
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oom_killed_137.json", True),
        ("task_failed_to_start.json", True),
        ("exit0.json", False),
        ("running.json", False),
    ],
)
def test_rule_selects_bad_stops_only(name, expected):
    assert matches(rule_pattern(), sample_event(name)) is expected


def test_shared_fixture_matches_on_its_own_cluster_only():
    event = sample_event("essential_container_exit1.json")
    assert matches(rule_pattern(event["detail"]["clusterArn"]), event)
    assert not matches(rule_pattern(CLUSTER), event)


def test_any_failed_container_is_enough():
    event = sample_event("exit0.json")
    event["detail"]["containers"].append({"name": "sidecar", "exitCode": 2})
    assert matches(rule_pattern(), event)


def test_other_sources_and_types_do_not_match():
    event = sample_event("oom_killed_137.json")
    assert not matches(rule_pattern(), {**event, "source": "aws.ec2"})
    assert not matches(rule_pattern(), {**event, "detail-type": "ECS Service Action"})


def test_missing_exit_code_without_failed_to_start_does_not_match():
    event = sample_event("task_failed_to_start.json")
    event["detail"]["stopCode"] = "UserInitiated"
    assert not matches(rule_pattern(), event)


@pytest.mark.parametrize("path", sorted(EVENTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_lambda_filter_agrees_with_the_rule(path):
    """The handler's own check and the rule say the same about every committed sample."""
    event = json.loads(path.read_text())
    cluster = event["detail"]["clusterArn"]
    assert matches(rule_pattern(cluster), event) is (reason_to_ignore(event, cluster) is None)


def test_matcher_knows_its_limits():
    with pytest.raises(ValueError, match="not modelled"):
        matches({"a": [{"wildcard": "x*"}]}, {"a": "xy"})
    assert not matches({"a": ["0"]}, {"a": 0})  # exact matching is type-sensitive
    assert matches({"a": [{"exists": False}]}, {})
