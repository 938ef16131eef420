"""The one module that talks to S3 (model store, Redshift staging).

boto3 honours AWS_ENDPOINT_URL, so the same code runs against a moto server on loopback in
tests; clients are created per use, never at import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_S3_URI = re.compile(
    r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<prefix>[^'\\]*))?$"
)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing slash

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """Parse s3://bucket/prefix; refuse anything that could break out of a SQL literal."""
        match = _S3_URI.match(uri)
        if not match:
            raise ValueError(f"not an s3://bucket/prefix URI: {uri!r}")
        return cls(match["bucket"], (match["prefix"] or "").strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"


def client() -> Any:
    import boto3

    return boto3.client("s3")


def put_bytes(location: S3Location, key: str, payload: bytes, **extra: Any) -> None:
    client().put_object(Bucket=location.bucket, Key=key, Body=payload, **extra)


def get_bytes(bucket: str, key: str) -> bytes:
    return client().get_object(Bucket=bucket, Key=key)["Body"].read()


def list_keys(location: S3Location, prefix_key: str) -> list[str]:
    paginator = client().get_paginator("list_objects_v2")
    keys: list[str] = []
    for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix_key):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def delete_prefix(location: S3Location, prefix_key: str) -> int:
    """Delete every object under a prefix; returns how many were deleted."""
    keys = list_keys(location, prefix_key)
    s3 = client()
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        s3.delete_objects(
            Bucket=location.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
        )
    return len(keys)
