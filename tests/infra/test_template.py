"""Static checks of infra/template.yaml: linters, least privilege, no secrets, private network."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import NOTIFIER_DIR, REPO, TEMPLATE, load_template

pytestmark = pytest.mark.unit

# Actions AWS offers no resource-level permissions for; they may (and must) use Resource "*".
# The set is exact: a new "*" statement fails this test until someone justifies it here.
STAR_RESOURCE_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _documents(node: Any, where: str = "") -> Iterator[tuple[str, dict]]:
    """Every IAM-style policy document anywhere in the template (roles, managed, bucket, queue)."""
    if isinstance(node, dict):
        if "Statement" in node:
            yield where, node
        for key, value in node.items():
            yield from _documents(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _documents(value, f"{where}[{index}]")


def _statements(document: dict) -> Iterator[dict]:
    for statement in _as_list(document["Statement"]):
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            # !If [condition, statement, AWS::NoValue]: both branches are possible.
            yield from (s for s in statement["Fn::If"][1:] if isinstance(s, dict) and "Effect" in s)
        else:
            yield statement


@pytest.fixture(scope="module")
def template() -> dict:
    return json.loads(json.dumps(load_template()))


@pytest.fixture(scope="module")
def documents(template) -> list[tuple[str, dict]]:
    return list(_documents(template["Resources"]))


@pytest.mark.cli
def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _checkov() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(REPO / ".venv-iac" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("checkov")


@pytest.mark.cli
def test_checkov_is_clean():
    checkov = _checkov()
    if checkov is None:
        if os.environ.get("CI"):
            pytest.fail("checkov is required in CI: `make .venv-iac/.synced` installs it")
        pytest.skip("checkov not installed: `make .venv-iac/.synced` (make test does it)")
    result = subprocess.run(
        [
            checkov,
            "-f",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--quiet",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [c["check_id"] for c in report["results"].get("failed_checks", [])]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 20
    assert summary["passed"] >= 50  # the scan really looked at the resources


def test_every_checkov_suppression_is_justified(template):
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "expected the documented suppressions"
    for name, skip in skips:
        assert skip["id"].startswith("CKV"), name
        assert len(skip.get("comment", "")) >= 60, f"{name} {skip['id']}: say why"


def test_policy_walker_sees_every_policy(documents):
    # 4 role trust policies + 4 inline policies + launcher + bucket + queue
    assert len(documents) == 11


def wildcard_problems(documents) -> list[str]:
    """Every grant wider than least privilege: "*" or "svc:*" actions, NotAction/NotResource,
    and Resource "*" for an action that supports resource-level permissions."""
    problems = []
    for where, document in documents:
        for statement in _statements(document):
            if "NotAction" in statement or "NotResource" in statement:
                problems.append(f"{where}: NotAction/NotResource")
            actions = _as_list(statement.get("Action", []))
            if "*" in actions:
                problems.append(f"{where}: Action *")
            if statement["Effect"] != "Allow":
                continue
            problems += [f"{where}: {a}" for a in actions if "*" in a and a != "*"]
            if "*" in _as_list(statement.get("Resource", [])):
                problems += [
                    f"{where}: {a} on *" for a in actions if a not in STAR_RESOURCE_ACTIONS
                ]
    return problems


def test_no_wildcard_action_and_star_resources_only_where_aws_requires(documents):
    assert wildcard_problems(documents) == []


def test_the_wildcard_check_catches_wide_grants():
    wide = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
            {"Effect": "Allow", "Action": "ecs:*", "Resource": "arn:aws:ecs:::cluster/x"},
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        ]
    }
    assert wildcard_problems([("/Wide", wide)]) == [
        "/Wide: Action *",
        "/Wide: * on *",
        "/Wide: s3:GetObject on *",
        "/Wide: ecs:*",
        "/Wide: NotAction/NotResource",
    ]


def _policy(template, resource: str, name: str | None = None) -> dict:
    properties = template["Resources"][resource]["Properties"]
    if name is None:
        return properties["PolicyDocument"]
    return next(p["PolicyDocument"] for p in properties["Policies"] if p["PolicyName"] == name)


def _by_sid(document: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in _statements(document)}


def test_launcher_can_pass_only_the_two_task_roles(template):
    launcher = _by_sid(_policy(template, "PrefectLauncherPolicy"))
    passing = launcher["PassOnlyTheTwoTaskRoles"]
    assert passing["Action"] == "iam:PassRole"
    assert passing["Resource"] == [
        {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]},
        {"Fn::GetAtt": ["TaskRole", "Arn"]},
    ]
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    run = launcher["RunOnThisClusterOnly"]
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}}


def test_task_role_reaches_only_its_prefixes(template):
    task = _by_sid(_policy(template, "TaskRole", "model-store-staging-warehouse"))
    assert task["ModelStoreReadWrite"]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/models/*"}
    assert "s3:DeleteObject" not in task["ModelStoreReadWrite"]["Action"]
    assert task["StagingReadWriteDelete"]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/staging/*"}
    assert task["ListOwnPrefixes"]["Condition"] == {
        "StringLike": {"s3:prefix": ["models/*", "staging/*"]}
    }
    redshift = task["RedshiftTemporaryCredentials"]
    assert redshift["Action"] == "redshift:GetClusterCredentials"
    assert all(
        ":dbuser:" in r["Fn::Sub"] or ":dbname:" in r["Fn::Sub"] for r in redshift["Resource"]
    )


def test_task_role_may_get_credentials_for_a_provisioned_cluster_or_a_serverless_workgroup(
    template,
):
    """Each IAM login path is granted only when its parameter is set, and only on that one
    cluster user/database or workgroup (the serverless ARN names the workgroup's ID)."""
    statements = _policy(template, "TaskRole", "model-store-staging-warehouse")["Statement"]
    conditional = {s["Fn::If"][1]["Sid"]: s["Fn::If"] for s in statements if "Fn::If" in s}
    assert conditional["RedshiftTemporaryCredentials"][0] == "HasRedshiftCluster"
    serverless_if = conditional["RedshiftServerlessTemporaryCredentials"]
    assert serverless_if[0] == "HasRedshiftServerless"
    assert serverless_if[2] == {"Ref": "AWS::NoValue"}
    serverless = serverless_if[1]
    assert serverless["Effect"] == "Allow"
    assert serverless["Action"] == [
        "redshift-serverless:GetCredentials",
        "redshift-serverless:GetWorkgroup",
    ]
    assert serverless["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:redshift-serverless:${AWS::Region}:${AWS::AccountId}"
        ":workgroup/${RedshiftServerlessWorkgroupId}"
    }
    conditions = template["Conditions"]
    assert conditions["HasRedshiftServerless"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "RedshiftServerlessWorkgroupId"}, ""]}]
    }
    parameter = template["Parameters"]["RedshiftServerlessWorkgroupId"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("0b7c6c53-3c1e-4f6b-9d0e-5a8f1e2d3c4b")
    assert not pattern.fullmatch("pulsewatch-wg")  # a name, not the ID the ARN needs
    output = template["Outputs"]["RedshiftServerlessDbUser"]
    assert output["Condition"] == "HasRedshiftServerless"
    assert output["Value"] == {"Fn::Sub": "IAMR:${TaskRole}"}


def test_secrets_have_no_values_in_the_template(template):
    secrets = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SecretsManager::Secret"
    }
    assert set(secrets) == {"WarehouseUrlSecret", "PrefectApiKeySecret", "SlackWebhookSecret"}
    for name, properties in secrets.items():
        assert "SecretString" not in properties, name
        assert "GenerateSecretString" not in properties, name
    for name in template["Parameters"]:
        assert "secret" not in name.lower() and "key" not in name.lower(), name
    text = TEMPLATE.read_text().lower()
    for marker in ("hooks.slack.com", "xoxb-", "xoxp-", "pnu_", "{{resolve:"):
        assert marker not in text, marker


def test_lambda_gets_secret_arns_not_values(template):
    variables = template["Resources"]["SlackNotifierFunction"]["Properties"]["Environment"][
        "Variables"
    ]
    assert variables["SLACK_WEBHOOK_SECRET_ARN"] == {"Ref": "SlackWebhookSecret"}
    assert variables["PREFECT_API_KEY_SECRET_ARN"] == {
        "Fn::If": ["HasPrefectApi", {"Ref": "PrefectApiKeySecret"}, ""]
    }
    assert not any("WEBHOOK_URL" in name or name.endswith("_KEY") for name in variables)


def test_tasks_have_no_inbound_path_and_no_public_ip(template):
    group = template["Resources"]["TaskSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert [(rule["FromPort"], rule["ToPort"]) for rule in group["SecurityGroupEgress"]] == [
        (443, 443),
        ({"Ref": "WarehousePort"}, {"Ref": "WarehousePort"}),
    ]
    assert not any(
        r["Type"]
        in {"AWS::EC2::SecurityGroupIngress", "AWS::EC2::EIP", "AWS::EC2::InternetGateway"}
        for r in template["Resources"].values()
    )
    network = template["Outputs"]["NetworkConfiguration"]["Value"]["Fn::Sub"][0]
    assert '"assignPublicIp": "DISABLED"' in network


def test_bucket_is_private_encrypted_and_tls_only(template):
    bucket = template["Resources"]["DataBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    staging = next(
        r for r in bucket["LifecycleConfiguration"]["Rules"] if r["Id"] == "expire-staging"
    )
    assert staging["Prefix"] == "staging/"
    assert staging["ExpirationInDays"] == {"Ref": "StagingExpirationDays"}
    (deny,) = _policy(template, "DataBucketPolicy")["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_lambda_code_and_handler_exist(template):
    function = template["Resources"]["SlackNotifierFunction"]["Properties"]
    code_dir = TEMPLATE.parent / function["Code"]
    assert code_dir == NOTIFIER_DIR
    module, function_name = function["Handler"].split(".")
    assert function_name == "handler"
    assert (code_dir / f"{module}.py").is_file()


def test_outputs_cover_the_work_pool_job_variables(template):
    assert {
        "ClusterArn",
        "ExecutionRoleArn",
        "TaskRoleArn",
        "VpcId",
        "PrivateSubnetIds",
        "TaskSecurityGroupId",
        "NetworkConfiguration",
        "LogGroupName",
        "LogStreamPrefix",
        "ImageRepositoryUri",
        "DataBucketName",
        "ModelStoreUri",
        "StagingUri",
        "RedshiftCopyRoleArn",
        "WarehouseUrlSecretArn",
        "PrefectApiKeySecretArn",
        "SlackWebhookSecretArn",
        "PrefectLauncherUserName",
        "Region",
    } <= set(template["Outputs"])
