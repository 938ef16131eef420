"""A test adapter that performs Redshift's own COPY and UNLOAD on PostgreSQL, as strictly as
Amazon's Database Developer Guide describes them.

Everything else in the Redshift path runs for real: the sqlalchemy-redshift engine (against
PostgreSQL), the Parquet staging on S3 (a moto server), the temp-table swap in one
transaction and the cleanup. Only the two statements Redshift alone understands are executed
here instead, reading or writing the same S3 objects Redshift would. Each statement is
recorded exactly as it would have been sent. The warehouse's schema is put first on each
connection's search_path. (The source fingerprint needs no emulated function: it is portable
integer arithmetic, tasks/sql/source_profile.sql.)

Where Redshift differs from a friendly stand-in, the emulation behaves like Redshift:
- UNLOAD of zero rows writes no file at all;
- UNLOAD is parallel: rows land in several files, one per slice, and the query's ORDER BY
  does not order the files, so the rows are dealt to the files in a shuffled order (seeded);
- COPY … FORMAT AS PARQUET maps file columns to table columns by position: the column count
  must match, each Parquet type must map to the column's type, and only Snappy-compressed or
  uncompressed files are read; a mismatch fails the COPY (and its transaction) with an error
  worded like Redshift's;
- every transaction runs at SERIALIZABLE (Redshift's only isolation level), and PostgreSQL's
  serialization failure (40001) reaches the caller as Redshift reports it: SQLSTATE XX000,
  "1023 … Serializable isolation violation".
"""

from __future__ import annotations

import io
import random
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from tasks.warehouse.redshift_io import RedshiftWarehouse, copy_sql, result_schema, unload_sql

# Parquet physical/logical types -> the Redshift column types COPY loads them into (by OID).
COPY_TYPES: dict[str, set[int]] = {
    "int16": {21, 23, 20},
    "int32": {23, 20},
    "int64": {20},
    "float": {700, 701},
    "double": {701},
    "date32[day]": {1082},
    "string": {1043, 1042, 25},
    "large_string": {1043, 1042, 25},
    "bool": {16},
}
TYPE_NAMES = {
    16: "BOOLEAN",
    20: "BIGINT",
    21: "SMALLINT",
    23: "INTEGER",
    25: "VARCHAR",
    700: "REAL",
    701: "DOUBLE PRECISION",
    1042: "CHAR",
    1043: "VARCHAR",
    1082: "DATE",
    1114: "TIMESTAMP",
    1184: "TIMESTAMPTZ",
    1700: "NUMERIC",
}
COPY_COMPRESSION = {"SNAPPY", "UNCOMPRESSED"}
SLICES = 4


def _split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix


def _copy_accepts(arrow: pa.DataType, type_code: int) -> bool:
    if pa.types.is_timestamp(arrow):
        return type_code == (1184 if arrow.tz else 1114)
    if pa.types.is_decimal(arrow):
        return type_code == 1700
    return type_code in COPY_TYPES.get(str(arrow), set())


class EmulatedRedshiftError(Exception):
    """Raised inside the emulated COPY; re-raised by the server as Redshift would (XX000)."""


class PostgresEmulatedRedshift(RedshiftWarehouse):
    def __init__(self, *args, fail_copy: bool | str = False, seed: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.statements: list[str] = []
        self.fail_copy = fail_copy  # True: a client-side failure; a str: that server error
        self.random = random.Random(seed)
        self.serialization_failures = 0
        schema = self.quote(self.schema or "public")

        @sa.event.listens_for(self.engine, "connect")
        def _search_path(dbapi_connection, connection_record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET search_path TO {schema}, public")
            # committed: psycopg2 opened a transaction for the SET, and the rollback SQLAlchemy
            # does before it sets the SERIALIZABLE isolation level would undo it
            dbapi_connection.commit()

    def _create_engine(self, url: str) -> sa.Engine:
        engine = super()._create_engine(url)
        engine.update_execution_options(isolation_level="SERIALIZABLE")

        @sa.event.listens_for(engine, "handle_error")
        def _as_redshift(context: Any) -> BaseException | None:
            """40001 from PostgreSQL -> the error Redshift raises for the same conflict."""
            orig = context.original_exception
            if getattr(orig, "pgcode", None) != "40001":
                return None
            self.serialization_failures += 1
            return sa_exc.InternalError(
                context.statement, context.parameters, _redshift_1023(engine, str(orig))
            )

        @sa.event.listens_for(engine, "after_cursor_execute")
        def _analyze_as_redshift(conn, cursor, statement, *args: Any) -> None:
            """PostgreSQL 15 skips ANALYZE of a table the user does not own with a WARNING;
            Redshift fails the statement."""
            if not statement.lstrip().upper().startswith("ANALYZE"):
                return
            notices = conn.connection.driver_connection.notices
            refused = [n for n in notices if "only table or database owner can analyze" in n]
            notices.clear()
            if refused:
                _raise_on_server(
                    conn, "skipping table --- only table or database owner can analyze it"
                )

        return engine

    # -- COPY ------------------------------------------------------------------------------
    def run_copy(self, conn: sa.Connection, stage_table: str, uri: str) -> None:
        self.statements.append(copy_sql(stage_table, uri, self.iam_role or ""))
        if isinstance(self.fail_copy, str):  # Redshift's own error text, raised by the server
            _raise_on_server(conn, self.fail_copy)
        if self.fail_copy:
            raise RuntimeError("S3ServiceException: simulated COPY failure")
        s3 = boto3.client("s3")
        bucket, prefix = _split(uri)
        result = conn.exec_driver_sql(f"SELECT * FROM {stage_table} WHERE 1 = 0")
        target = result.cursor.description
        result.close()
        cursor = conn.connection.driver_connection.cursor()
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            file_uri = f"s3://{bucket}/{item['Key']}"
            try:
                table = self._checked_parquet(body, file_uri, target)
            except EmulatedRedshiftError as error:
                _raise_on_server(conn, str(error))
            buffer = io.BytesIO()
            pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
            buffer.seek(0)
            # FORMAT AS PARQUET maps columns by position, like this COPY without a column list
            cursor.copy_expert(f"COPY {stage_table} FROM STDIN WITH (FORMAT csv)", buffer)

    @staticmethod
    def _checked_parquet(body: bytes, uri: str, target: Any) -> pa.Table:
        """The file's rows, if Redshift's COPY would load them into `target` (a description)."""
        parquet = pq.ParquetFile(io.BytesIO(body))
        metadata = parquet.metadata
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                codec = metadata.row_group(group).column(column).compression
                if codec not in COPY_COMPRESSION:
                    raise EmulatedRedshiftError(
                        f"Spectrum Scan Error: File '{uri}' uses unsupported compression "
                        f"{codec}; COPY reads SNAPPY or uncompressed Parquet"
                    )
        schema = parquet.schema_arrow
        if len(schema) != len(target):
            raise EmulatedRedshiftError(
                "Unmatched number of columns between table and file. "
                f"Table columns: {len(target)}, Data columns: {len(schema)}"
            )
        for field, column in zip(schema, target, strict=True):
            if not _copy_accepts(field.type, column.type_code):
                raise EmulatedRedshiftError(
                    f"Spectrum Scan Error: File '{uri}' has an incompatible Parquet schema for "
                    f"column '{column.name}'. Column type: "
                    f"{TYPE_NAMES.get(column.type_code, column.type_code)}, "
                    f"Parquet schema: {field.name} {field.type}"
                )
        return parquet.read()

    # -- UNLOAD ----------------------------------------------------------------------------
    def run_unload(self, conn: sa.Connection, query: str, uri: str) -> None:
        self.statements.append(unload_sql(query, uri, self.iam_role or ""))
        result = conn.execute(sa.text(query))
        schema = result_schema(result.cursor.description)
        rows = [tuple(row) for row in result]
        if not rows:
            return  # Redshift writes no file for an empty result
        self.random.shuffle(rows)  # the files' order is not the query's ORDER BY
        s3 = boto3.client("s3")
        bucket, prefix = _split(uri)
        cuts = sorted(self.random.sample(range(1, len(rows)), min(SLICES, len(rows)) - 1))
        for part, (start, stop) in enumerate(zip([0, *cuts], [*cuts, len(rows)], strict=True)):
            piece = rows[start:stop]
            columns = {
                field.name: pa.array([_plain(row[i], field.type) for row in piece], field.type)
                for i, field in enumerate(schema)
            }
            buffer = io.BytesIO()
            pq.write_table(pa.table(columns, schema=schema), buffer, compression="snappy")
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}{part:04d}_part_00.parquet", Body=buffer.getvalue()
            )


def _plain(value: Any, arrow: pa.DataType) -> Any:
    if value is not None and pa.types.is_floating(arrow):
        return float(value)  # NUMERIC without a precision unloads as double
    return value


def _raise_on_server(conn: sa.Connection, message: str) -> None:
    """Fail the statement on the server, as Redshift does (XX000): the transaction aborts."""
    quoted = message.replace("'", "''")
    conn.exec_driver_sql(
        f"DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'XX000', MESSAGE = '{quoted}'; END $$"
    )


def _redshift_1023(engine: sa.Engine, detail: str) -> BaseException:
    """A real psycopg2 error object as Redshift sends a serialization conflict."""
    first = detail.strip().splitlines()[0].replace("'", "''")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute(
                "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'XX000', MESSAGE = '1023', "
                f"DETAIL = 'Serializable isolation violation on table ({first})'; END $$"
            )
    except Exception as error:
        return error
    finally:
        raw.close()
    raise AssertionError("the server did not raise")


def emulated_redshift(
    postgres_url: str, schema: str, bucket: str, role: str, **options: Any
) -> PostgresEmulatedRedshift:
    """A `redshift+psycopg2` warehouse on the local PostgreSQL, staging on the moto bucket."""
    url = sa.make_url(postgres_url).set(drivername="redshift+psycopg2")
    url = url.set(password=url.password or "unused").update_query_dict({"sslmode": "disable"})
    return PostgresEmulatedRedshift(
        url.render_as_string(hide_password=False),
        schema,
        s3_staging=f"s3://{bucket}/staging",
        iam_role=role,
        **options,
    )


# The IAM role the emulated cluster COPYs and UNLOADs with (any valid ARN: moto checks none).
ROLE = "arn:aws:iam::123456789012:role/pulsewatch-redshift"


def s3_keys(bucket: str) -> list[str]:
    """Every key in the moto bucket (the staging area the Redshift path writes and cleans)."""
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
