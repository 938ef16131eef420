"""The stack deploys to CREATE_COMPLETE on a moto server, and what moto models is as intended.

Measured with moto 5.2: it creates the ECR repository, cluster, log groups, bucket (encryption
only), security group, roles with inline policies, managed policy, user, queue, Lambda (with
reserved concurrency), rule (pattern, target, retry and dead-letter settings) and invoke
permission. It skips AWS::SecretsManager::Secret, AWS::S3::BucketPolicy, AWS::IAM::Group and
AWS::IAM::UserToGroupAddition (so outputs and variables that reference a secret are absent), and
it ignores cluster settings and capacity providers, ECR scan settings and lifecycle, bucket
public-access block, versioning and lifecycle, security-group egress rules and the Lambda
dead-letter config. Those are checked statically in test_template.py.
"""

from __future__ import annotations

import ast
import io
import json
import zipfile
from collections.abc import Iterator
from urllib.parse import unquote

import boto3
import pytest

from tests.infra.conftest import NOTIFIER_DIR, REGION, load_template

WORKGROUP_ID = "0b7c6c53-3c1e-4f6b-9d0e-5a8f1e2d3c4b"  # Redshift Serverless IDs are UUIDs

pytestmark = [
    pytest.mark.integration,
    # moto warns once per resource type it skips; the module docstring lists them.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]

STACK = "pulsewatch-test"
PROJECT = "pwstack"  # resource names must not collide with other tests on the same moto server
PREFECT_API_URL = "https://api.prefect.cloud/api/accounts/a/workspaces/w"


def package(template: dict, s3, bucket: str) -> str:
    """What `aws cloudformation package` does for us: zip the Lambda folder, upload it, point
    Code at the upload. (awscli is not a test dependency.)"""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(NOTIFIER_DIR.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(NOTIFIER_DIR).as_posix())
    s3.put_object(Bucket=bucket, Key="slack_notifier.zip", Body=archive.getvalue())
    function = template["Resources"]["SlackNotifierFunction"]["Properties"]
    assert function["Code"] == "lambda/slack_notifier"
    function["Code"] = {"S3Bucket": bucket, "S3Key": "slack_notifier.zip"}
    return json.dumps(template)


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Iterator[dict]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )

    def client(name: str):
        return session.client(name, endpoint_url=moto_endpoint)

    ec2, s3, cloudformation = client("ec2"), client("s3"), client("cloudformation")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    s3.create_bucket(
        Bucket="pw-artifacts", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    body = package(json.loads(json.dumps(load_template())), s3, "pw-artifacts")
    parameters = {
        "ProjectName": PROJECT,
        "VpcId": vpc,
        "PrivateSubnetIds": ",".join(subnets),
        "WarehouseCidr": "10.20.64.0/20",
        "RedshiftClusterIdentifier": "analytics",
        "RedshiftServerlessWorkgroupId": WORKGROUP_ID,
        "PrefectApiUrl": PREFECT_API_URL,
    }
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=body,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    description = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    yield {
        "client": client,
        "status": description["StackStatus"],
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])},
        "subnets": subnets,
        "vpc": vpc,
    }
    cloudformation.delete_stack(StackName=STACK)


def _document(value) -> dict:
    """A policy document as IAM returned it.

    Real IAM returns URL-encoded JSON (boto3 decodes most of it); moto 5.2 stores the inline
    policies of CloudFormation roles as a Python dict repr, hence the literal_eval fallback."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(unquote(value))
    except json.JSONDecodeError:
        return ast.literal_eval(value)


def test_stack_is_create_complete(stack):
    assert stack["status"] == "CREATE_COMPLETE"


def test_outputs_feed_the_work_pool(stack):
    out = stack["outputs"]
    assert out["ClusterArn"] == f"arn:aws:ecs:{REGION}:123456789012:cluster/{PROJECT}"
    assert out["VpcId"] == stack["vpc"]
    assert out["PrivateSubnetIds"] == ",".join(stack["subnets"])
    assert json.loads(out["NetworkConfiguration"]) == {
        "subnets": stack["subnets"],
        "securityGroups": [out["TaskSecurityGroupId"]],
        "assignPublicIp": "DISABLED",
    }
    assert out["LogGroupName"] == f"/ecs/{PROJECT}"
    assert out["ImageRepositoryUri"] == f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{PROJECT}"
    assert out["ModelStoreUri"] == f"s3://{out['DataBucketName']}/models"
    assert out["StagingUri"] == f"s3://{out['DataBucketName']}/staging"
    assert out["Region"] == REGION
    assert out["PrefectLauncherUserName"] == f"{PROJECT}-prefect-launcher"


def test_cluster_repository_logs_and_bucket(stack):
    client, out = stack["client"], stack["outputs"]
    (cluster,) = client("ecs").describe_clusters(clusters=[out["ClusterArn"]])["clusters"]
    assert cluster["status"] == "ACTIVE"
    (repository,) = client("ecr").describe_repositories(repositoryNames=[PROJECT])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/")["logGroups"]
    retention = {g["logGroupName"]: g.get("retentionInDays") for g in groups}
    assert retention[f"/ecs/{PROJECT}"] == 90
    assert retention[f"/aws/lambda/{PROJECT}-slack-notifier"] == 90
    encryption = client("s3").get_bucket_encryption(Bucket=out["DataBucketName"])
    (rule,) = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (group,) = client("ec2").describe_security_groups(GroupIds=[out["TaskSecurityGroupId"]])[
        "SecurityGroups"
    ]
    assert group["IpPermissions"] == []  # no inbound rule at all
    assert group["VpcId"] == stack["vpc"]


def test_roles_carry_their_least_privilege_policies(stack):
    iam, out = stack["client"]("iam"), stack["outputs"]
    execution = out["ExecutionRoleArn"].rsplit("/", 1)[1]
    document = iam.get_role_policy(RoleName=execution, PolicyName="pull-log-secrets")
    sids = {s["Sid"]: s for s in _document(document["PolicyDocument"])["Statement"]}
    assert sids["EcrPullThisRepository"]["Resource"] == (
        f"arn:aws:ecr:{REGION}:123456789012:repository/{PROJECT}"
    )
    trust = _document(iam.get_role(RoleName=execution)["Role"]["AssumeRolePolicyDocument"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}

    task = out["TaskRoleArn"].rsplit("/", 1)[1]
    document = iam.get_role_policy(RoleName=task, PolicyName="model-store-staging-warehouse")
    sids = {s["Sid"]: s for s in _document(document["PolicyDocument"])["Statement"]}
    assert sids["RedshiftTemporaryCredentials"]["Resource"] == [
        f"arn:aws:redshift:{REGION}:123456789012:dbuser:analytics/pulsewatch",
        f"arn:aws:redshift:{REGION}:123456789012:dbname:analytics/dev",
    ]
    assert sids["RedshiftServerlessTemporaryCredentials"]["Resource"] == (
        f"arn:aws:redshift-serverless:{REGION}:123456789012:workgroup/{WORKGROUP_ID}"
    )
    assert out["RedshiftServerlessDbUser"] == f"IAMR:{task}"
    assert sids["StagingReadWriteDelete"]["Resource"] == (
        f"arn:aws:s3:::{out['DataBucketName']}/staging/*"
    )


def test_launcher_policy_passes_exactly_the_two_roles(stack):
    iam, out = stack["client"]("iam"), stack["outputs"]
    (policy,) = [
        p
        for p in iam.list_policies(Scope="Local")["Policies"]
        if p["PolicyName"].startswith(f"{STACK}-PrefectLauncherPolicy")
    ]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    document = _document(version["PolicyVersion"]["Document"])
    sids = {s["Sid"]: s for s in document["Statement"]}
    assert sids["PassOnlyTheTwoTaskRoles"]["Resource"] == [
        out["ExecutionRoleArn"],
        out["TaskRoleArn"],
    ]
    assert sids["RunOnThisClusterOnly"]["Condition"] == {
        "ArnEquals": {"ecs:cluster": out["ClusterArn"]}
    }
    assert iam.get_user(UserName=out["PrefectLauncherUserName"])["User"]["UserName"]


def test_rule_pattern_target_and_dead_letter(stack):
    events, out = stack["client"]("events"), stack["outputs"]
    name = f"{PROJECT}-ecs-task-stopped-badly"
    rule = events.describe_rule(Name=name)
    assert rule["State"] == "ENABLED"
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [out["ClusterArn"]],
            "lastStatus": ["STOPPED"],
            "$or": [
                {"containers": {"exitCode": [{"numeric": [">", 0]}]}},
                {"stopCode": ["TaskFailedToStart"]},
            ],
        },
    }
    (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
    function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{PROJECT}-slack-notifier"
    assert target["Arn"] == function_arn
    assert target["DeadLetterConfig"] == {
        "Arn": f"arn:aws:sqs:{REGION}:123456789012:{PROJECT}-ecs-alert-dlq"
    }
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8


def test_lambda_configuration_and_permission(stack):
    lam, out = stack["client"]("lambda"), stack["outputs"]
    name = out["SlackNotifierFunctionName"]
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["Runtime"], config["Handler"], config["Timeout"]) == (
        "python3.12",
        "handler.handler",
        30,
    )
    variables = config["Environment"]["Variables"]
    assert variables["CLUSTER_ARN"] == out["ClusterArn"]
    assert variables["LOG_GROUP_NAME"] == f"/ecs/{PROJECT}"
    assert variables["LOG_STREAM_PREFIX"] == "pulsewatch"
    assert variables["PREFECT_API_URL"] == PREFECT_API_URL
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 2
    (statement,) = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:events:{REGION}:123456789012:rule/{PROJECT}-ecs-task-stopped-badly"
    )


def test_dead_letter_queue_is_encrypted(stack):
    sqs = stack["client"]("sqs")
    url = sqs.get_queue_url(QueueName=f"{PROJECT}-ecs-alert-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert attributes["MessageRetentionPeriod"] == "1209600"
