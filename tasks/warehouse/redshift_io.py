"""Amazon Redshift: IAM credentials, Parquet on S3 with COPY / UNLOAD.

Redshift has no COPY FROM STDIN and ADBC no longer supports it, so bulk data goes through
`PULSEWATCH_S3_STAGING` (inside the VPC, through an S3 gateway endpoint):
- write: each batch → a Parquet file (columns in table order) → `COPY <temp stage> FROM 's3://…'
  IAM_ROLE '…' FORMAT AS PARQUET` → lock, delete the partition, insert from the stage, check the
  count, commit → the staged objects are removed (also on failure);
- read: `UNLOAD ('<query>') TO 's3://…' IAM_ROLE '…' FORMAT AS PARQUET` → each file streamed back
  with pyarrow in bounded batches → the unloaded objects are removed.
Without staging, reads fall back to a server-side cursor and writes are refused.
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from tasks import s3
from tasks.errors import ConfigError
from tasks.warehouse.core import Batch, as_arrow, literal_sql, verify_count

if TYPE_CHECKING:
    from tasks.warehouse.core import Warehouse

IAM_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
PROVISIONED_HOST = re.compile(
    r"^(?P<cluster>[a-z][a-z0-9-]*)\.[a-z0-9]+\.(?P<region>[a-z0-9-]+)\.redshift\.amazonaws\.com$"
)
SERVERLESS_HOST = re.compile(
    r"^(?P<workgroup>[a-z0-9-]+)\.\d{12}\.(?P<region>[a-z0-9-]+)\.redshift-serverless\.amazonaws\.com$"
)
CREDENTIAL_SECONDS = 900
# URL query parameters pulsewatch reads itself (and removes before libpq sees them).
IAM_QUERY_KEYS = ("cluster_identifier", "workgroup_name", "region")


def copy_sql(stage_table: str, uri: str, iam_role: str) -> str:
    """The COPY statement (Redshift takes no bind parameters here; inputs are validated)."""
    return f"COPY {stage_table} FROM '{uri}' IAM_ROLE '{iam_role}' FORMAT AS PARQUET"


def unload_sql(query: str, uri: str, iam_role: str) -> str:
    """UNLOAD of a literal query: comment lines dropped, quotes doubled inside the string."""
    body = "\n".join(line for line in query.splitlines() if not line.strip().startswith("--"))
    escaped = body.strip().replace("'", "''")
    return (
        f"UNLOAD ('{escaped}') TO '{uri}' IAM_ROLE '{iam_role}' "
        "FORMAT AS PARQUET ALLOWOVERWRITE MAXFILESIZE 256 MB"
    )


# -- IAM temporary credentials -----------------------------------------------------------------
def iam_target(url: sa.URL) -> dict[str, str]:
    """Which API issues credentials for this URL: a provisioned cluster or a serverless
    workgroup, from the host name or explicit query parameters."""
    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    host = url.host or ""
    if "workgroup_name" in query or SERVERLESS_HOST.match(host):
        match = SERVERLESS_HOST.match(host)
        return {
            "kind": "serverless",
            "workgroup": query.get("workgroup_name") or (match["workgroup"] if match else ""),
            "region": query.get("region") or (match["region"] if match else ""),
        }
    match = PROVISIONED_HOST.match(host)
    cluster = query.get("cluster_identifier") or (match["cluster"] if match else "")
    if not cluster:
        raise ConfigError(
            "PULSEWATCH_WAREHOUSE_URL: Redshift URL has no password and no cluster to ask for "
            "IAM credentials (add ?cluster_identifier=… or ?workgroup_name=…)"
        )
    return {
        "kind": "provisioned",
        "cluster": cluster,
        "region": query.get("region") or (match["region"] if match else ""),
    }


def iam_credentials(url: sa.URL) -> tuple[str, str, float]:
    """(user, password, expires_at) from GetClusterCredentials / serverless GetCredentials."""
    import boto3

    target = iam_target(url)
    region = target["region"] or None
    if target["kind"] == "serverless":
        reply = boto3.client("redshift-serverless", region_name=region).get_credentials(
            workgroupName=target["workgroup"],
            dbName=url.database,
            durationSeconds=CREDENTIAL_SECONDS,
        )
        return reply["dbUser"], reply["dbPassword"], reply["expiration"].timestamp()
    reply = boto3.client("redshift", region_name=region).get_cluster_credentials(
        DbUser=url.username,
        DbName=url.database,
        ClusterIdentifier=target["cluster"],
        DurationSeconds=CREDENTIAL_SECONDS,
        AutoCreate=False,
    )
    return reply["DbUser"], reply["DbPassword"], reply["Expiration"].timestamp()


class IamCredentialCache:
    """Fresh temporary credentials for each new connection, reused until a minute before
    they expire, so no password is ever stored."""

    def __init__(self, url: sa.URL) -> None:
        self.url = url
        self.user = self.password = ""
        self.expires_at = 0.0

    def apply(self, cparams: dict[str, Any]) -> None:
        if time.time() > self.expires_at - 60:
            self.user, self.password, self.expires_at = iam_credentials(self.url)
        cparams["user"], cparams["password"] = self.user, self.password


def create_redshift_engine(url: str) -> sa.Engine:
    """sqlalchemy-redshift engine: TLS verified unless the URL says otherwise; IAM
    temporary credentials when the URL carries no password."""
    parsed = sa.make_url(url)
    connect_args = {} if "sslmode" in parsed.query else {"sslmode": "verify-full"}
    engine_url = parsed.difference_update_query(IAM_QUERY_KEYS)
    engine = sa.create_engine(engine_url, connect_args=connect_args, pool_pre_ping=True)
    if not parsed.password:
        cache = IamCredentialCache(parsed)

        @sa.event.listens_for(engine, "do_connect")
        def _iam(dialect, conn_rec, cargs, cparams):
            cache.apply(cparams)

    return engine


# -- S3 staging ----------------------------------------------------------------------------------
class RedshiftIO:
    """Staged bulk paths. `run_copy` / `run_unload` execute Redshift's own statements; tests
    replace just those two with an adapter that performs them on PostgreSQL."""

    def __init__(self, warehouse: Warehouse, staging: str | None, iam_role: str | None) -> None:
        self.warehouse = warehouse
        try:
            self.staging = s3.S3Location.parse(staging) if staging else None
        except ValueError as error:
            raise ConfigError(f"PULSEWATCH_S3_STAGING: {error}") from None
        if iam_role and not IAM_ROLE.match(iam_role):
            raise ConfigError(f"PULSEWATCH_REDSHIFT_IAM_ROLE: not an IAM role ARN: {iam_role!r}")
        self.iam_role = iam_role

    def _require_staging(self) -> s3.S3Location:
        if self.staging is None or not self.iam_role:
            raise ConfigError(
                "Redshift bulk writes need PULSEWATCH_S3_STAGING and PULSEWATCH_REDSHIFT_IAM_ROLE"
            )
        return self.staging

    def run_copy(self, conn: sa.Connection, stage_table: str, uri: str) -> None:
        conn.execute(sa.text(copy_sql(stage_table, uri, self.iam_role or "")))

    def run_unload(self, conn: sa.Connection, query: str, uri: str) -> None:
        conn.execute(sa.text(unload_sql(query, uri, self.iam_role or "")))

    def replace_partition(
        self,
        table: str,
        column: str,
        value: Any,
        batches: Iterable[Batch],
        expected: int | None,
    ) -> int:
        staging = self._require_staging()
        run = staging.key("load", table, str(value), uuid.uuid4().hex)
        warehouse = self.warehouse
        try:
            written = 0
            for part, batch in enumerate(batches):
                rows = as_arrow(batch)
                if rows.num_rows == 0:
                    continue
                buffer = pa_buffer(rows)
                s3.put_bytes(staging, f"{run}/part-{part:05d}.parquet", buffer)
                written += rows.num_rows
            stage = warehouse.quote(f"pw_stage_{uuid.uuid4().hex[:12]}")
            target = warehouse.qualified(table)
            params = {"value": value}
            with warehouse.engine.begin() as conn:
                conn.execute(sa.text(f"LOCK {target}"))
                conn.execute(sa.text(f"CREATE TEMP TABLE {stage} (LIKE {target})"))
                if written:
                    self.run_copy(conn, stage, f"s3://{staging.bucket}/{run}/")
                conn.execute(
                    sa.text(warehouse.partition_sql("partition_delete", table, column)), params
                )
                conn.execute(sa.text(f"INSERT INTO {target} SELECT * FROM {stage}"))
                count = warehouse.partition_sql("partition_count", table, column)
                stored = int(conn.execute(sa.text(count), params).scalar_one())
                verify_count(table, column, value, written, stored, expected)
                conn.execute(sa.text(f"DROP TABLE {stage}"))
        finally:
            s3.delete_prefix(staging, f"{run}/")
        return written

    def stream(self, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
        staging = self._require_staging()
        run = staging.key("unload", uuid.uuid4().hex)
        query = literal_sql(sql, params, self.warehouse.engine.dialect)
        try:
            with self.warehouse.engine.begin() as conn:
                self.run_unload(conn, query, f"s3://{staging.bucket}/{run}/")
            keys = s3.list_keys(staging, f"{run}/")
            empty = True
            for key in keys:
                with tempfile.TemporaryFile() as handle:
                    s3.client().download_fileobj(staging.bucket, key, handle)
                    handle.seek(0)
                    for batch in pq.ParquetFile(handle).iter_batches(batch_size=chunk_rows):
                        empty = False
                        yield batch.to_pandas()
            if empty:
                yield pd.DataFrame()
        finally:
            s3.delete_prefix(staging, f"{run}/")


def pa_buffer(rows: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    pq.write_table(rows, buffer, compression="zstd")
    return buffer.getvalue()
