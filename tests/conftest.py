"""Shared fixtures: isolated configuration, small demo warehouses, PostgreSQL, Prefect."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tasks.demo_data import DemoSpec, write_demo_data
from tasks.settings import get_settings
from tasks.warehouse import Warehouse, warehouse_for_url

POSTGRES_URL = os.environ.get(
    "PULSEWATCH_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
# A fixed calendar so every test sees the same data whatever today is.
DEMO_END_MONTH = date(2026, 10, 1)
SCORE_DATE = date(2026, 11, 20)
SMALL_DEMO = DemoSpec(employees=600, months=16, seed=11, end_month=DEMO_END_MONTH)


REDSHIFT_ENV = (
    "PULSEWATCH_TEST_REDSHIFT_URL",
    "PULSEWATCH_TEST_S3_STAGING",
    "PULSEWATCH_TEST_REDSHIFT_IAM_ROLE",
)
# Session services that are slow to start and that several tests share: under pytest-xdist
# (`make test`: -n auto --dist loadgroup) the tests using one of them run on one worker, which
# starts it once. Every other session service (the temporary Prefect server of `prefect_api`, the
# moto server, the PostgreSQL schema) is per worker: each worker starts or creates its own, on a
# free port or under a unique name, so workers never share state.
SHARED_SERVICES = {"alert_stack": "alerts", "prefect_server": "prefect-server"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the tests of a shared service on one xdist worker. Tests marked `redshift` run only
    under `make test-redshift` (`-m redshift`) and only when the real account is configured;
    anywhere else they are skipped with the reason."""
    missing = [name for name in REDSHIFT_ENV if not os.environ.get(name)]
    selected = "redshift" in (config.option.markexpr or "")
    for item in items:
        for fixture, group in SHARED_SERVICES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break
        if item.get_closest_marker("redshift") is None:
            continue
        if not selected:
            item.add_marker(
                pytest.mark.skip(reason="real Redshift account: run `make test-redshift`")
            )
        elif missing:
            item.add_marker(pytest.mark.skip(reason=f"set {', '.join(missing)} to run it"))


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own warehouse file, model store and work dir; no .env leaks in."""
    for name in list(os.environ):
        if name.startswith("PULSEWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PULSEWATCH_WAREHOUSE_URL", f"duckdb:///{tmp_path}/warehouse.duckdb")
    monkeypatch.setenv("PULSEWATCH_MODEL_STORE", str(tmp_path / "models"))
    monkeypatch.setenv("PULSEWATCH_WORK_DIR", str(tmp_path / "work"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = warehouse_for_url(f"duckdb:///{tmp_path}/warehouse.duckdb")
    yield warehouse
    warehouse.close()


@pytest.fixture
def demo_duck(duck: Warehouse) -> Warehouse:
    write_demo_data(duck, SMALL_DEMO)
    return duck


def _postgres_available() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # any failure means "no server here"
        return str(error).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A fresh schema for the session on the local PostgreSQL, dropped afterwards.

    Skips when no server answers, except in CI (CI set), where PostgreSQL must be there."""
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {problem}")
    schema = f"pw_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture
def pg(postgres_schema: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """A PostgreSQL warehouse in the session schema, configured as the active warehouse."""
    monkeypatch.setenv("PULSEWATCH_WAREHOUSE_URL", POSTGRES_URL)
    monkeypatch.setenv("PULSEWATCH_SCHEMA", postgres_schema)
    get_settings.cache_clear()
    warehouse = warehouse_for_url(POSTGRES_URL, postgres_schema)
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.text(f"DROP VIEW IF EXISTS {warehouse.qualified('latest_condition_scores')}")
        )
        tables = ("condition_scores", "score_reasons", "model_registry", "survey_responses")
        for table in (*tables, "employees"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {warehouse.qualified(table)}"))
    yield warehouse
    warehouse.close()


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """The same test on the embedded DuckDB and on the local PostgreSQL (a fresh schema)."""
    return request.getfixturevalue("duck" if request.param == "duckdb" else "pg")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on a free loopback port: the edge of the world for AWS."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS clients in this test talk to the moto server; a fresh bucket `pulsewatch-test-<n>`."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"pulsewatch-test-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    return bucket


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One temporary Prefect server for the whole session (flow tests)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
