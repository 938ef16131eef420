"""tasks/s3.py: S3 URIs parsed and refused, and the object helpers against a moto server on
loopback (the model store and Redshift staging built on them: tests/integration/test_aws_paths.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tasks import s3
from tasks.s3 import S3Location


@pytest.mark.unit
@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://my-bucket", "my-bucket", ""),
        ("s3://my-bucket/", "my-bucket", ""),
        ("s3://my.bucket-1/models/prod/", "my.bucket-1", "models/prod"),
        ("s3://bkt/a/b/c", "bkt", "a/b/c"),
    ],
)
def test_parse_splits_bucket_and_prefix(uri, bucket, prefix):
    assert S3Location.parse(uri) == S3Location(bucket, prefix)


@pytest.mark.unit
@pytest.mark.parametrize(
    "uri",
    [
        "s3://bkt/it's",  # would end a SQL literal (UNLOAD/COPY)
        "s3://bkt/a\\b",
        "s3://Upper/p",  # bucket names are lower case
        "s3://b/p",  # too short for a bucket name
        "https://bkt.s3.amazonaws.com/p",
        "bkt/p",
        "",
    ],
)
def test_parse_refuses_what_is_not_a_bucket_uri(uri):
    with pytest.raises(ValueError, match=r"^not an s3://bucket/prefix URI: "):
        S3Location.parse(uri)


@pytest.mark.unit
def test_key_and_uri_join_parts_without_doubled_slashes():
    location = S3Location.parse("s3://bkt/models/prod/")
    assert location.key("m1/", "/model.json") == "models/prod/m1/model.json"
    assert location.uri("m1", "model.json") == "s3://bkt/models/prod/m1/model.json"
    assert S3Location("bkt", "").key("m1", "") == "m1"


@pytest.mark.integration
def test_put_get_list_and_delete_only_under_the_prefix(aws):
    import boto3  # here, as in tasks.s3: the unit tests of this file need no boto3

    location = S3Location(aws, "staging")
    s3.put_bytes(location, location.key("run-1", "a.parquet"), b"one", Metadata={"sha256": "x"})
    s3.put_bytes(location, location.key("run-1", "b.parquet"), b"two")
    s3.put_bytes(location, location.key("run-10", "a.parquet"), b"other run")
    assert s3.get_bytes(aws, "staging/run-1/a.parquet") == b"one"
    head = boto3.client("s3").head_object(Bucket=aws, Key="staging/run-1/a.parquet")
    assert head["Metadata"] == {"sha256": "x"}  # extra arguments reach put_object
    assert s3.list_keys(location, "staging/run-1/") == [
        "staging/run-1/a.parquet",
        "staging/run-1/b.parquet",
    ]
    assert s3.delete_prefix(location, "staging/run-1/") == 2
    assert s3.list_keys(location, "staging/") == ["staging/run-10/a.parquet"]
    assert s3.delete_prefix(location, "staging/run-1/") == 0


@pytest.mark.integration
def test_more_than_one_page_is_listed_and_deleted(aws):
    """1,001 objects: S3 lists and deletes at most 1,000 per request (moto pages the listing but
    accepts a larger delete, so the delete requests are counted as they leave boto3)."""
    import boto3

    location = S3Location(aws, "many")
    keys = [location.key(f"{n:04d}") for n in range(1001)]
    client = boto3.client("s3")
    with ThreadPoolExecutor(8) as pool:  # 1,001 sequential PUTs to moto take seconds
        list(pool.map(lambda key: client.put_object(Bucket=aws, Key=key, Body=b""), keys))
    assert s3.list_keys(location, "many/") == keys

    deletes: list[int] = []

    def count(params, **_):
        deletes.append(len(params["Delete"]["Objects"]))

    events = boto3._get_default_session().events  # tasks.s3 makes its clients from this session
    events.register("before-parameter-build.s3.DeleteObjects", count)
    try:
        assert s3.delete_prefix(location, "many/") == 1001
    finally:
        events.unregister("before-parameter-build.s3.DeleteObjects", count)
    assert deletes == [1000, 1]
    assert s3.list_keys(location, "many/") == []
