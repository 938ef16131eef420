"""Amazon Redshift: IAM credentials, Parquet on S3 with COPY / UNLOAD.

Redshift has no COPY FROM STDIN and ADBC no longer supports it, so bulk data goes through
`PULSEWATCH_S3_STAGING` (inside the VPC, through an S3 gateway endpoint):
- write: each batch → a Parquet file (columns in table order) → `COPY <temp stage> FROM 's3://…'
  IAM_ROLE '…' FORMAT AS PARQUET` → lock, delete the partition, insert from the stage, check the
  count, commit → the staged objects are removed (also on failure);
- read: `UNLOAD ('<query>') TO 's3://…' IAM_ROLE '…' FORMAT AS PARQUET` → each file streamed back
  with pyarrow in bounded batches → the unloaded objects are removed. An UNLOAD of zero rows
  writes no file at all, so an empty result takes its columns and types from the statement's
  result description (`SELECT * FROM (<query>) AS t WHERE 1 = 0`). A parallel UNLOAD orders
  rows only inside each file (the query's ORDER BY does not order the files): every reader of
  a stream is order-independent or sorts what it read by the query's keys.
Without staging, reads fall back to a server-side cursor and writes are refused.
"""

from __future__ import annotations

import io
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from tasks import s3
from tasks.errors import ConfigError
from tasks.warehouse.core import (
    Batch,
    RoundTrip,
    Transaction,
    Warehouse,
    as_arrow,
    first_line,
    literal_sql,
    lock_timeout_error,
    lock_wait_notice,
    with_connect_timeout,
)

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


# Parquet compression for staged COPY files: the COPY documentation names Snappy for Parquet
# ("COPY from columnar data formats"); zstd is not among the codecs it reads.
PARQUET_COMPRESSION = "snappy"

# The Arrow type a result column of Redshift type OID `code` unloads as (UNLOAD … FORMAT AS
# PARQUET): Redshift reports PostgreSQL's type OIDs in a result description. NUMERIC without a
# declared precision has no exact Arrow type and is read as float64.
ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1042: pa.string(),
    1043: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
NUMERIC = 1700


def arrow_type(
    type_code: int, precision: int | None = None, scale: int | None = None
) -> pa.DataType:
    """Arrow type of a result column (cursor.description's type code, precision and scale)."""
    if type_code == NUMERIC:
        if precision and 0 < precision <= 38:
            return pa.decimal128(precision, scale or 0)
        return pa.float64()
    return ARROW_TYPES.get(type_code, pa.string())


def result_schema(description: Any) -> pa.Schema:
    """The Arrow schema of a DBAPI result description."""
    return pa.schema(
        [
            pa.field(column.name, arrow_type(column.type_code, column.precision, column.scale))
            for column in description
        ]
    )


def describe_sql(query: str) -> str:
    """A statement returning no row but the query's columns and types."""
    return f"SELECT * FROM ({query}) AS pw_described WHERE 1 = 0"


# What to do about each way the staging round trip fails, by the error's text (first match wins).
# Redshift reports S3 and IAM failures of COPY / UNLOAD as S3ServiceException text, e.g.
# "S3ServiceException:The S3 bucket addressed by the query is in a different region from this
# cluster.,Status 301,Error PermanentRedirect" or "User arn:aws:redshift:…:dbuser:… is not
# authorized to assume IAM Role arn:aws:iam::…:role/…".
STAGING_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"in a different region", re.I),
        "move PULSEWATCH_S3_STAGING to a bucket in the cluster's region",
    ),
    (
        re.compile(r"not authorized to assume IAM Role", re.I),
        "associate PULSEWATCH_REDSHIFT_IAM_ROLE with the cluster and let redshift.amazonaws.com "
        "assume it (its trust policy)",
    ),
    (
        re.compile(r"NoSuchBucket|specified bucket does not exist", re.I),
        "create the PULSEWATCH_S3_STAGING bucket or correct its name",
    ),
    (
        re.compile(r"access ?denied", re.I),
        "grant PULSEWATCH_REDSHIFT_IAM_ROLE and the task role s3:ListBucket, s3:GetObject, "
        "s3:PutObject and s3:DeleteObject on the PULSEWATCH_S3_STAGING prefix",
    ),
    (
        re.compile(r"permission denied for schema", re.I),
        "GRANT USAGE, CREATE ON SCHEMA {schema} to the pulsewatch user",
    ),
)
STAGING_FIX_OTHERWISE = "check PULSEWATCH_S3_STAGING and PULSEWATCH_REDSHIFT_IAM_ROLE"


def staging_fix(message: str, schema: str) -> str:
    """The fix named for a failed staging round trip (`message`: the error's first line)."""
    for pattern, fix in STAGING_FIXES:
        if pattern.search(message):
            return fix.format(schema=schema)
    return STAGING_FIX_OTHERWISE


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
    parsed = with_connect_timeout(url)
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
@dataclass(frozen=True)
class Staged:
    """Batches written as Parquet under one S3 prefix, before the write's transaction opens."""

    uri: str
    rows: int


class RedshiftWarehouse(Warehouse):
    """Staged bulk paths. `run_copy` / `run_unload` execute Redshift's own statements; tests
    replace just those two with an adapter that performs them on PostgreSQL."""

    kind: ClassVar[str] = "redshift"

    def __init__(
        self,
        url: str,
        schema: str | None = None,
        *,
        s3_staging: str | None = None,
        iam_role: str | None = None,
    ) -> None:
        super().__init__(url, schema)
        try:
            self.staging = s3.S3Location.parse(s3_staging) if s3_staging else None
        except ValueError as error:
            raise ConfigError(f"PULSEWATCH_S3_STAGING: {error}") from None
        if iam_role and not IAM_ROLE.match(iam_role):
            raise ConfigError(f"PULSEWATCH_REDSHIFT_IAM_ROLE: not an IAM role ARN: {iam_role!r}")
        self.iam_role = iam_role

    @classmethod
    def open(
        cls,
        url: str,
        schema: str | None = None,
        *,
        s3_staging: str | None = None,
        iam_role: str | None = None,
    ) -> Warehouse:
        return cls(url, schema, s3_staging=s3_staging, iam_role=iam_role)

    def _create_engine(self, url: str) -> sa.Engine:
        return create_redshift_engine(url)

    def _lock(self, conn: sa.Connection, table: str, key: object) -> None:
        """Redshift has no advisory locks: the table's own lock, until the transaction ends.
        LOCK waits without bound, so the wait is bounded by a statement timeout (Redshift has
        no lock_timeout), reset to the session's default once the lock is held (a timed-out
        LOCK aborts the transaction, whose rollback undoes the SET)."""
        what = self.lock_label(table, key)
        timeout = int(self.lock_timeout * 1000)
        conn.execute(sa.text(f"SET statement_timeout TO {timeout}"))
        with lock_wait_notice(self, what):
            try:
                conn.execute(sa.text(f"LOCK {self.qualified(table)}"))
            except sa.exc.DBAPIError as error:
                if "statement timeout" in str(error.orig).lower():
                    raise lock_timeout_error(self, what) from None
                raise
        conn.execute(sa.text("SET statement_timeout TO DEFAULT"))

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

    @contextmanager
    def _staged(self, table: str, value: Any, batches: Iterable[Batch]) -> Iterator[Staged]:
        """Each batch → a Parquet file under a fresh prefix; the prefix is removed afterwards
        (also on failure)."""
        staging = self._require_staging()
        run = staging.key("load", table, str(value), uuid.uuid4().hex)
        try:
            written = 0
            for part, batch in enumerate(batches):
                rows = as_arrow(batch)
                if rows.num_rows == 0:
                    continue
                s3.put_bytes(staging, f"{run}/part-{part:05d}.parquet", pa_buffer(rows))
                written += rows.num_rows
            yield Staged(f"s3://{staging.bucket}/{run}/", written)
        finally:
            s3.delete_prefix(staging, f"{run}/")

    def _append_partition(self, tx: Transaction, table: str, staged: Staged) -> int:
        """COPY the staged files into a temp table like the target, then INSERT … SELECT."""
        conn = tx.connection
        stage = self.quote(f"pw_stage_{uuid.uuid4().hex[:12]}")
        target = self.qualified(table)
        conn.execute(sa.text(f"CREATE TEMP TABLE {stage} (LIKE {target})"))
        if staged.rows:
            self.run_copy(conn, stage, staged.uri)
        conn.execute(sa.text(f"INSERT INTO {target} SELECT * FROM {stage}"))
        conn.execute(sa.text(f"DROP TABLE {stage}"))
        return staged.rows

    def _stream(self, name: str, sql: str, params: dict, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """UNLOAD through the staging prefix; without staging, the server-side cursor."""
        if self.staging is None:
            yield from super()._stream(name, sql, params, chunk_rows)
            return
        staging = self._require_staging()
        run = staging.key("unload", uuid.uuid4().hex)
        query = literal_sql(sql, params, self.engine.dialect)
        try:
            with self.engine.begin() as conn:
                self.run_unload(conn, query, f"s3://{staging.bucket}/{run}/")
            schema: pa.Schema | None = None
            empty = True
            for key in s3.list_keys(staging, f"{run}/"):
                with tempfile.TemporaryFile() as handle:
                    s3.client().download_fileobj(staging.bucket, key, handle)
                    handle.seek(0)
                    parquet = pq.ParquetFile(handle)
                    schema = schema or parquet.schema_arrow
                    for batch in parquet.iter_batches(batch_size=chunk_rows):
                        empty = False
                        yield batch.to_pandas()
            if empty:  # zero rows: Redshift wrote no file (or only empty ones)
                yield (schema or self.describe(query)).empty_table().to_pandas()
        finally:
            s3.delete_prefix(staging, f"{run}/")

    def round_trip_check(self) -> RoundTrip:
        """One row UNLOADed to the staging prefix and read back (`_stream`), staged again and
        COPYed into a one-column temp table (`_staged` + `run_copy`): what a night's reads and
        writes need of the bucket, the role and the cluster. Nothing persistent is written;
        both prefixes are removed."""
        try:
            staging = self._require_staging()
        except ConfigError as error:
            return RoundTrip(False, str(error), "set both (README: Redshift)")
        where = f"UNLOAD/COPY through {staging.uri()}"
        try:
            rows = pd.concat(list(self._stream("staging_probe", self.sql("staging_probe"), {}, 10)))
            stage = self.quote(f"pw_doctor_{uuid.uuid4().hex[:12]}")
            with (
                self._staged("doctor", uuid.uuid4().hex, [rows]) as staged,
                self.transaction() as tx,
            ):
                tx.execute("staging_probe_table", stage=stage)
                self.run_copy(tx.connection, stage, staged.uri)
                loaded = int(tx.fetch("staging_probe_count", stage=stage)[0]["probe_rows"])
                tx.execute("staging_probe_drop", stage=stage)
        except Exception as error:
            line = first_line(error)
            return RoundTrip(False, f"{where}: {line}", staging_fix(line, self.schema or "public"))
        if loaded != 1:
            detail = f"{where}: {loaded} rows came back, not 1"
            return RoundTrip(False, detail, STAGING_FIX_OTHERWISE)
        return RoundTrip(True, f"{where}: 1 row unloaded and copied back")

    def describe(self, query: str) -> pa.Schema:
        """The columns and types a query's UNLOAD would have written, from the statement's
        result description (a zero-row SELECT: no scan, no file)."""
        with self.engine.connect() as conn:
            result = conn.exec_driver_sql(describe_sql(query))
            description = result.cursor.description
            result.close()
        return result_schema(description)


def pa_buffer(rows: Any) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(rows, buffer, compression=PARQUET_COMPRESSION)
    return buffer.getvalue()
