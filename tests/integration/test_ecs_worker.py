"""prefect-aws's own ECS worker launches the nightly deployment on a moto ECS, and its ECS
observer turns a STOPPED exit-1 task event (EventBridge -> SQS, as prefect-aws's
`ecs-worker deploy-events` wires it) into a Crashed run.

The real pieces: a `prefect server` (tests/integration/conftest.py), the pool made from
deployments/ecs/base-job-template.json, the real prefect.yaml deployed by `prefect deploy`
(only its Docker steps swapped for recording stand-ins), `prefect worker start --type ecs`
in its own process group. AWS is a moto server on loopback; there is no container to run,
so the task's end is the event the test sends, shaped like ECS's own
(/work/shared/fixtures/ecs_task_stopped_exit1.json, committed as the notifier's sample).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import httpx
import prefect
import pytest
from prefect.server.events.schemas.automations import EventTrigger
from prefect.server.events.schemas.events import ReceivedEvent

from deployments.automations import AlertPolicy, automation_specs
from tests.infra.conftest import load_template, sample_event
from tests.integration.conftest import BIN
from tests.integration.test_deploy import _git_sha
from tests.support.alert_services import stop, wait_for
from tests.support.deploy_config import (
    BASE_JOB_TEMPLATE,
    ROOT,
    example_values,
    prefect_yaml_with_fake_docker,
)
from tests.support.eventbridge_pattern import matches

pytestmark = pytest.mark.integration

REGION = "ap-northeast-1"
WAREHOUSE_SECRET_VALUE = "redshift+psycopg2://pulsewatch:not-a-real-password@wh.internal:5439/dev"


@pytest.fixture
def fargate_memory_in_moto(monkeypatch):
    """moto 5.2.5 answers RunTask with HTTP 500 when a container definition has no
    container-level memory (getmoto/moto#7272): it adds None to an int. Fargate itself takes
    the task-level memory, which is all our template sets. The moto server runs in this
    process, so the fake is corrected here rather than our template changed for it."""
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def with_task_memory(task_definition):
        fixed = copy.copy(task_definition)
        fixed.container_definitions = [
            c
            if {"memory", "memoryReservation", "Memory", "MemoryReservation"} & set(c)
            else {**c, "memory": 0}
            for c in task_definition.container_definitions
        ]
        return original(fixed)

    monkeypatch.setattr(
        EC2ContainerServiceBackend,
        "_calculate_task_resource_requirements",
        staticmethod(with_task_memory),
    )


def _stand_in_account(tag: str) -> tuple[dict[str, str], str]:
    """Everything deployments/values/example.env names, created in moto; and the name of the
    SQS queue fed by prefect-aws's own EventBridge rule for the cluster's task events."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    # Fargate tasks in a VPC need DNS hostnames (and moto's RunTask checks it)
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for cidr, zone in (("10.42.1.0/24", "a"), ("10.42.2.0/24", "c"))
    ]
    group = ec2.create_security_group(
        GroupName=f"pulsewatch-{tag}", Description="pulsewatch tasks", VpcId=vpc
    )["GroupId"]
    cluster = boto3.client("ecs").create_cluster(clusterName=f"pulsewatch-{tag}")["cluster"][
        "clusterArn"
    ]
    iam = boto3.client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    task_role, execution_role = (
        iam.create_role(RoleName=f"pulsewatch-{kind}-{tag}", AssumeRolePolicyDocument=trust)[
            "Role"
        ]["Arn"]
        for kind in ("task", "execution")
    )
    log_group = f"/pulsewatch/flows-{tag}"
    boto3.client("logs").create_log_group(logGroupName=log_group)
    secrets = boto3.client("secretsmanager")
    warehouse_secret = secrets.create_secret(
        Name=f"pulsewatch/warehouse-url-{tag}", SecretString=WAREHOUSE_SECRET_VALUE
    )["ARN"]
    repository = boto3.client("ecr").create_repository(repositoryName=f"pulsewatch-{tag}")[
        "repository"
    ]["repositoryUri"]

    # prefect-aws's own wiring for its observer (`prefect-aws ecs-worker deploy-events`,
    # templates/ecs/events-only.json): a rule on the cluster's task events -> an SQS queue.
    queue_name = f"pulsewatch-ecs-events-{tag}"
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    import prefect_aws

    events_only = json.loads(
        (Path(prefect_aws.__file__).parent / "templates/ecs/events-only.json").read_text()
    )
    (rule,) = [
        r["Properties"]
        for r in events_only["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
    ]
    pattern = json.loads(
        json.dumps(rule["EventPattern"]).replace(
            '{"Ref": "ExistingClusterArn"}', json.dumps(cluster)
        )
    )
    assert pattern["detail"]["clusterArn"] == [cluster]
    events = boto3.client("events")
    events.put_rule(Name=f"pulsewatch-task-events-{tag}", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule=f"pulsewatch-task-events-{tag}", Targets=[{"Id": "observer", "Arn": queue_arn}]
    )

    values = example_values()
    values.update(
        PULSEWATCH_ECS_IMAGE_REPOSITORY=repository,
        PULSEWATCH_ECS_CLUSTER=cluster,
        PULSEWATCH_ECS_TASK_ROLE_ARN=task_role,
        PULSEWATCH_ECS_EXECUTION_ROLE_ARN=execution_role,
        PULSEWATCH_ECS_VPC_ID=vpc,
        PULSEWATCH_ECS_PRIVATE_SUBNET_1=subnets[0],
        PULSEWATCH_ECS_PRIVATE_SUBNET_2=subnets[1],
        PULSEWATCH_ECS_SECURITY_GROUP=group,
        PULSEWATCH_ECS_LOG_GROUP=log_group,
        PULSEWATCH_ECS_WAREHOUSE_URL_SECRET_ARN=warehouse_secret,
        # a self-hosted server without authentication (README): no API key secret
        PULSEWATCH_ECS_PREFECT_API_KEY_SECRET_ARN="",
    )
    return values, queue_name


def _api(server, method: str, path: str, **kwargs):
    response = httpx.request(method, f"{server.api_url}{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def ecs_worker(prefect_server, aws, tmp_path):
    """Start `prefect worker start --type ecs` with `start(env)`; its process group is ended
    at teardown whatever happened (a worker outlives a failed test otherwise)."""
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> Path:
        log = tmp_path / "worker.log"
        started.append(
            subprocess.Popen(
                [
                    str(BIN / "prefect"),
                    "worker",
                    "start",
                    "--pool",
                    "pulsewatch-ecs",
                    "--type",
                    "ecs",
                    "--name",
                    "ecs-worker-test",
                ],
                cwd=tmp_path,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        return log

    yield start
    for process in started:
        stop(process)


def test_ecs_worker_launches_the_nightly_run_and_its_observer_marks_the_crash(
    prefect_server, aws, fargate_memory_in_moto, ecs_worker, tmp_path, monkeypatch
):
    began = time.monotonic()
    tag = uuid.uuid4().hex[:8]
    values, queue_name = _stand_in_account(tag)

    created = prefect_server.prefect(
        "work-pool",
        "create",
        "pulsewatch-ecs",
        "--type",
        "ecs",
        "--overwrite",
        "--base-job-template",
        str(BASE_JOB_TEMPLATE),
    )
    assert created.returncode == 0, created.stdout + created.stderr
    variant = prefect_yaml_with_fake_docker(tmp_path)
    deployed = prefect_server.prefect(
        "--no-prompt",
        "deploy",
        "--name",
        "nightly",
        "--prefect-file",
        str(variant),
        cwd=ROOT,
        env=prefect_server.env(
            PYTHONPATH=str(ROOT),
            PULSEWATCH_FAKE_DOCKER_LOG=str(tmp_path / "docker.jsonl"),
            **values,
        ),
    )
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    deployment = _api(prefect_server, "GET", "/deployments/name/nightly-pipeline/nightly")

    # every Prefect setting that names a path, set on the worker's machine (the logging
    # config must exist: Prefect's own file)
    machine_paths = {n: str(tmp_path / "worker-machine" / n.lower()) for n in path_settings()}
    machine_paths["PREFECT_LOGGING_CONFIG_PATH"] = str(
        Path(prefect.__file__).parent / "logging" / "logging.yml"
    )
    worker_log = ecs_worker(
        prefect_server.env(
            AWS_ENDPOINT_URL=aws_endpoint(),
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
            PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME=queue_name,
            PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_REGION=REGION,
            PREFECT_WORKER_QUERY_SECONDS="1",
            **machine_paths,
        )
    )
    run = _api(
        prefect_server,
        "POST",
        f"/deployments/{deployment['id']}/create_flow_run",
        json={"parameters": {"score_date": "2026-11-20"}},
    )

    ecs = boto3.client("ecs")
    cluster = values["PULSEWATCH_ECS_CLUSTER"]

    def launched():
        arns = ecs.list_tasks(cluster=cluster)["taskArns"]
        if not arns:
            assert "Traceback" not in worker_log.read_text(), worker_log.read_text()[-4000:]
        return arns

    (task_arn,) = wait_for(launched, 240, "the worker's RunTask", every=1)
    (task,) = ecs.describe_tasks(cluster=cluster, tasks=[task_arn], include=["TAGS"])["tasks"]
    definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])[
        "taskDefinition"
    ]

    # RegisterTaskDefinition: the image built for this commit, the pipeline's size, secrets
    # by ARN only, logs to the stack's group under the pulsewatch/ prefix
    (container,) = definition["containerDefinitions"]
    assert container["name"] == "prefect"
    assert container["image"] == f"{values['PULSEWATCH_ECS_IMAGE_REPOSITORY']}:{_git_sha()}"
    assert (definition["cpu"], definition["memory"]) == ("2048", "8192")
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["networkMode"] == "awsvpc"
    assert definition["executionRoleArn"] == values["PULSEWATCH_ECS_EXECUTION_ROLE_ARN"]
    assert container["secrets"] == [
        {
            "name": "PULSEWATCH_WAREHOUSE_URL",
            "valueFrom": values["PULSEWATCH_ECS_WAREHOUSE_URL_SECRET_ARN"],
        }
    ]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-create-group": "false",
            "awslogs-group": values["PULSEWATCH_ECS_LOG_GROUP"],
            "awslogs-region": REGION,
            "awslogs-stream-prefix": "pulsewatch",
        },
    }

    # RunTask: Fargate in both private subnets, no public IP, the task role, the flow command
    assert task["clusterArn"] == cluster
    assert task["launchType"] == "FARGATE"
    network = task_network(task)
    assert network == {
        "subnets": sorted(
            [values["PULSEWATCH_ECS_PRIVATE_SUBNET_1"], values["PULSEWATCH_ECS_PRIVATE_SUBNET_2"]]
        ),
        "securityGroups": [values["PULSEWATCH_ECS_SECURITY_GROUP"]],
        "assignPublicIp": "DISABLED",
    }
    overrides = task["overrides"]
    assert overrides["taskRoleArn"] == values["PULSEWATCH_ECS_TASK_ROLE_ARN"]
    (override,) = overrides["containerOverrides"]
    assert override["name"] == "prefect"
    assert override["command"] == ["prefect", "flow-run", "execute"]
    environment = {e["name"]: e["value"] for e in override["environment"]}
    assert environment["PREFECT__FLOW_RUN_ID"] == run["id"]
    assert environment["PREFECT_API_URL"] == prefect_server.api_url
    assert {k: v for k, v in environment.items() if k.startswith("PULSEWATCH_")} == {
        "PULSEWATCH_SCHEMA": values["PULSEWATCH_ECS_SCHEMA"],
        "PULSEWATCH_MODEL_STORE": values["PULSEWATCH_ECS_MODEL_STORE"],
        "PULSEWATCH_S3_STAGING": values["PULSEWATCH_ECS_S3_STAGING"],
        "PULSEWATCH_REDSHIFT_IAM_ROLE": values["PULSEWATCH_ECS_REDSHIFT_IAM_ROLE"],
        "PULSEWATCH_WORK_DIR": "/tmp/pulsewatch",
    }
    # nothing of the worker's machine reaches the container: none of its path settings (the
    # worker had each set), no API key (self-hosted, none configured), no secret in plain text
    sent = json.dumps([definition, task])
    assert str(prefect_server.home) not in sent and str(tmp_path) not in sent
    assert set(environment) & set(path_settings()) == set()
    assert "PREFECT_API_KEY" not in sent
    assert WAREHOUSE_SECRET_VALUE not in sent
    tags = {t["key"]: t["value"] for t in task["tags"]}
    assert tags["prefect.io/flow-run-id"] == run["id"]

    # the worker leaves the run Pending until its observer hears about the task
    assert _api(prefect_server, "GET", f"/flow_runs/{run['id']}")["state"]["type"] == "PENDING"

    # ECS reports the container exited 1: EventBridge -> the observer's SQS queue
    event = stopped_event(task, definition, exit_code=1)
    put = boto3.client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
        ]
    )
    assert put["FailedEntryCount"] == 0

    def crashed():
        state = _api(prefect_server, "GET", f"/flow_runs/{run['id']}")["state"]
        return state if state["type"] == "CRASHED" else None

    state = wait_for(crashed, 180, "the observer to mark the run Crashed", every=1)
    assert (
        state["message"]
        == "The following containers stopped with a non-zero exit code: ['prefect']"
    )

    # One alert for this failure. The Prefect path: the Crashed event the server recorded is
    # one the `pulsewatch-run-failed` automation fires on ...
    def crashed_event():
        page = _api(
            prefect_server,
            "POST",
            "/events/filter",
            json={
                "filter": {
                    "event": {"name": ["prefect.flow-run.Crashed"]},
                    "resource": {"id": [f"prefect.flow-run.{run['id']}"]},
                }
            },
        )
        return page["events"]

    (recorded,) = wait_for(crashed_event, 60, "the Crashed event")
    failed = {
        s.name: s
        for s in automation_specs(AlertPolicy(ui_url=prefect_server.api_url.removesuffix("/api")))
    }["pulsewatch-run-failed"]
    assert EventTrigger.model_validate(failed.trigger).covers(
        ReceivedEvent.model_validate(recorded)
    )
    # ... and the AWS path: the stack's rule sends this event to the Lambda, which asks Prefect
    # about the run, sees Crashed (final), and leaves the alert to the automation.
    (rule,) = [
        r["Properties"]
        for r in load_template()["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
    ]
    pattern = json.loads(
        json.dumps(rule["EventPattern"]).replace(
            '{"Fn::GetAtt": ["Cluster", "Arn"]}', json.dumps(cluster)
        )
    )
    assert matches(pattern, event)
    import handler

    monkeypatch.setenv("CLUSTER_ARN", cluster)
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    monkeypatch.delenv("PREFECT_API_KEY_SECRET_ARN", raising=False)
    monkeypatch.setenv(
        "SLACK_WEBHOOK_SECRET_ARN",
        "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:unused",
    )
    assert handler.handler(event, None) == {
        "status": "suppressed",
        "reason": "Prefect state Crashed",
    }

    print(f"ECS worker round trip: {time.monotonic() - began:.1f}s")


def path_settings() -> list[str]:
    """The environment names of every Prefect setting whose value is a filesystem path
    (PREFECT_HOME, PREFECT_PROFILES_PATH, ...), read from Prefect's own settings model."""
    from prefect.settings import Settings
    from prefect.settings.base import PrefectBaseSettings

    found = []

    def walk(model: type[PrefectBaseSettings], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(
                field.annotation, PrefectBaseSettings
            ):
                walk(field.annotation, f"{prefix}{name.upper()}_")
            elif "Path" in str(field.annotation):
                found.append(f"{prefix}{name.upper()}")

    walk(Settings, "PREFECT_")
    return found


def aws_endpoint() -> str:
    return os.environ["AWS_ENDPOINT_URL"]


def task_network(task: dict) -> dict:
    """The awsvpcConfiguration RunTask received. DescribeTasks does not return it (real ECS
    neither), so it is read from the moto backend, which runs in this process."""
    from moto.ecs.models import ecs_backends

    region, account = task["taskArn"].split(":")[3:5]
    cluster_name = task["clusterArn"].rsplit("/", 1)[-1]
    stored = ecs_backends[account][region].tasks[cluster_name][task["taskArn"]]
    configuration = dict(stored.network_configuration["awsvpcConfiguration"])
    configuration["subnets"] = sorted(configuration["subnets"])
    return configuration


def stopped_event(task: dict, definition: dict, exit_code: int) -> dict:
    """ECS's STOPPED task-state event for this task, shaped like the shared fixture."""
    event = sample_event("essential_container_exit1.json")
    region, account = task["taskArn"].split(":")[3:5]
    event.update(
        id=str(uuid.uuid4()),
        account=account,
        region=region,
        resources=[task["taskArn"]],
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    detail = event["detail"]
    (container,) = detail["containers"]
    container.update(
        name=definition["containerDefinitions"][0]["name"],
        image=definition["containerDefinitions"][0]["image"],
        exitCode=exit_code,
        taskArn=task["taskArn"],
    )
    detail.update(
        clusterArn=task["clusterArn"],
        taskArn=task["taskArn"],
        taskDefinitionArn=task["taskDefinitionArn"],
        group=task["group"],
        overrides=task["overrides"],  # what RunTask sent, PREFECT__FLOW_RUN_ID included
        cpu=definition["cpu"],
        memory=definition["memory"],
        availabilityZone=f"{region}a",
    )
    return event
