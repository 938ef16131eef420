"""`pulsewatch doctor`'s staging round trip on the emulated Redshift (PostgreSQL + moto): one
row UNLOADed and COPYed back into a temp table, and the fix named for each way it fails."""

from __future__ import annotations

import boto3
import pytest

from tasks import doctor
from tasks.doctor import _warehouse_checks
from tasks.settings import get_settings
from tests.conftest import POSTGRES_URL
from tests.support.redshift_emulation import emulated_redshift

pytestmark = pytest.mark.integration
ROLE = "arn:aws:iam::123456789012:role/pulsewatch-redshift"
REGION = (
    "S3ServiceException:The S3 bucket addressed by the query is in a different region from "
    "this cluster.,Status 301,Error PermanentRedirect,Rid 1,ExtRid 2,CanRetry 1"
)
ASSUME = (
    "User arn:aws:redshift:ap-northeast-1:123456789012:dbuser:pulsewatch/pulsewatch is not "
    f"authorized to assume IAM Role {ROLE}"
)


def keys(bucket: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def round_trip(pg, bucket, **options):
    warehouse = emulated_redshift(POSTGRES_URL, pg.schema, bucket, ROLE, **options)
    try:
        return warehouse.round_trip_check(), warehouse.statements
    finally:
        warehouse.close()


def test_round_trip_passes_and_leaves_nothing_behind(pg, aws):
    result, statements = round_trip(pg, aws)
    assert (result.ok, result.detail, result.fix) == (
        True,
        f"UNLOAD/COPY through s3://{aws}/staging: 1 row unloaded and copied back",
        "",
    )
    assert [s.split(" ")[0] for s in statements] == ["UNLOAD", "COPY"]
    assert "pw_doctor_" in statements[1] and f"IAM_ROLE '{ROLE}'" in statements[1]
    assert keys(aws) == []  # both prefixes removed
    assert not pg.table_exists("pw_doctor")  # nothing persistent in the schema


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (REGION, "move PULSEWATCH_S3_STAGING to a bucket in the cluster's region"),
        (
            ASSUME,
            "associate PULSEWATCH_REDSHIFT_IAM_ROLE with the cluster and let "
            "redshift.amazonaws.com assume it (its trust policy)",
        ),
        (
            "S3ServiceException:Access Denied,Status 403,Error AccessDenied",
            "grant PULSEWATCH_REDSHIFT_IAM_ROLE and the task role s3:ListBucket, s3:GetObject, "
            "s3:PutObject and s3:DeleteObject on the PULSEWATCH_S3_STAGING prefix",
        ),
    ],
    ids=["region", "assume-role", "access-denied"],
)
def test_copy_failure_names_its_fix(pg, aws, error, fix):
    result, _ = round_trip(pg, aws, fail_copy=error)
    assert (result.ok, result.detail, result.fix) == (
        False,
        f"UNLOAD/COPY through s3://{aws}/staging: {error}",
        fix,
    )
    assert keys(aws) == []  # the staged probe is removed after the failed COPY too


def test_missing_bucket_names_its_fix(pg, aws):
    missing = f"{aws}-missing"
    result, _ = round_trip(pg, missing)
    assert (result.ok, result.detail, result.fix) == (
        False,
        f"UNLOAD/COPY through s3://{missing}/staging: An error occurred (NoSuchBucket) when "
        "calling the ListObjectsV2 operation: The specified bucket does not exist",
        "create the PULSEWATCH_S3_STAGING bucket or correct its name",
    )


def test_schema_privilege_failure_names_the_grant(pg, aws):
    result, _ = round_trip(pg, aws, fail_copy="permission denied for schema pulsewatch")
    assert result.fix == f"GRANT USAGE, CREATE ON SCHEMA {pg.schema} to the pulsewatch user"


def test_doctor_shows_no_round_trip_without_a_staging_path(pg):
    names = [check.name for check in _warehouse_checks(get_settings())]
    assert "warehouse reachable" in names and "staging round trip" not in names


def test_doctor_shows_the_round_trip_for_redshift(pg, aws, monkeypatch):
    warehouse = emulated_redshift(POSTGRES_URL, pg.schema, aws, ROLE, fail_copy=REGION)
    monkeypatch.setattr(doctor, "open_warehouse", lambda settings: warehouse)
    checks = {c.name: c for c in _warehouse_checks(get_settings())}
    assert not checks["staging round trip"].ok
    assert checks["staging round trip"].fix == (
        "move PULSEWATCH_S3_STAGING to a bucket in the cluster's region"
    )
