"""A test adapter that performs Redshift's own COPY and UNLOAD on PostgreSQL.

Everything else in the Redshift path runs for real: the sqlalchemy-redshift engine (against
PostgreSQL), the Parquet staging on S3 (a moto server), the temp-table swap in one
transaction and the cleanup. Only the two statements Redshift alone understands are executed
here instead, reading or writing the same S3 objects Redshift would. Each statement is
recorded exactly as it would have been sent. One Redshift built-in function PostgreSQL lacks,
STRTOL(text, base) (the source fingerprint's hash slices), is defined in the warehouse's schema
for base 16, which is put first on each connection's search_path.
"""

from __future__ import annotations

import io

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa

from tasks.warehouse.redshift_io import RedshiftWarehouse, copy_sql, unload_sql


def _split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


class PostgresEmulatedRedshift(RedshiftWarehouse):
    def __init__(self, *args, fail_copy: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.statements: list[str] = []
        self.fail_copy = fail_copy
        schema = self.quote(self.schema or "public")

        @sa.event.listens_for(self.engine, "connect")
        def _search_path(dbapi_connection, connection_record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET search_path TO {schema}, public")

        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE OR REPLACE FUNCTION {schema}.strtol(digits TEXT, base INTEGER) "
                "RETURNS BIGINT LANGUAGE sql IMMUTABLE "
                "AS $$ SELECT CAST(CAST('x' || LPAD(digits, 16, '0') AS BIT(64)) AS BIGINT) $$"
            )

    def run_copy(self, conn: sa.Connection, stage_table: str, uri: str) -> None:
        self.statements.append(copy_sql(stage_table, uri, self.iam_role or ""))
        if self.fail_copy:
            raise RuntimeError("S3ServiceException: simulated COPY failure")
        s3 = boto3.client("s3")
        bucket, prefix = _split(uri)
        cursor = conn.connection.driver_connection.cursor()
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            table = pq.read_table(
                io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            )
            buffer = io.BytesIO()
            pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
            buffer.seek(0)
            # FORMAT AS PARQUET maps columns by position, like this COPY without a column list
            cursor.copy_expert(f"COPY {stage_table} FROM STDIN WITH (FORMAT csv)", buffer)

    def run_unload(self, conn: sa.Connection, query: str, uri: str) -> None:
        self.statements.append(unload_sql(query, uri, self.iam_role or ""))
        result = conn.execute(sa.text(query))
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        s3 = boto3.client("s3")
        bucket, prefix = _split(uri)
        half = len(frame) // 2  # two slices, as Redshift writes one file per slice
        for part, rows in enumerate((frame.iloc[:half], frame.iloc[half:])):
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), buffer)
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}{part:04d}_part_00.parquet", Body=buffer.getvalue()
            )
