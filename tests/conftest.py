"""Shared fixtures: isolated configuration, small demo warehouses, PostgreSQL, Prefect."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# pytest imports this file before anything else, in every process (the xdist controller, which
# runs no test, included): what imports pandas, SQLAlchemy or the warehouse code is imported
# where it is used, or, for the demo sizes below, on first use.
if TYPE_CHECKING:
    import pandas as pd

    from tasks.demo_data import DemoSpec
    from tasks.warehouse import Warehouse

# One thread per process for the OpenMP (LightGBM, scikit-learn) and OpenBLAS (numpy, SciPy)
# pools of the tests and of every process they start: pytest-xdist already runs one test
# process per core (two for `make test`), and pools of one thread per core on top of that
# oversubscribe the cores and spin-wait for work (scikit-learn's own test suite limits them
# the same way under xdist). Measured 2026-12-04, `make test-unit` in one process: 27.4-27.6 s
# of CPU -> 24.3-24.9 s. A run that sets either variable keeps its value. What the code under
# test sets itself (LightGBM's num_threads, tasks/knobs.py) still applies.
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")

POSTGRES_URL = os.environ.get(
    "PULSEWATCH_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
# A fixed calendar so every test sees the same data whatever today is.
DEMO_END_MONTH = date(2026, 10, 1)
SCORE_DATE = date(2026, 11, 20)
# SMALL_DEMO: 600 employees x 16 months; DEFAULT_DEMO: the default demo size (2,000 employees x
# 24 months), as `make run` writes it. DemoSpec objects, made on first use (module __getattr__).
DEMO_SIZES = {"SMALL_DEMO": {"employees": 600, "months": 16, "seed": 11}, "DEFAULT_DEMO": {}}


def __getattr__(name: str) -> Any:
    if name not in DEMO_SIZES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from tasks.demo_data import DemoSpec

    spec = globals()[name] = DemoSpec(end_month=DEMO_END_MONTH, **DEMO_SIZES[name])
    return spec


REDSHIFT_ENV = (
    "PULSEWATCH_TEST_REDSHIFT_URL",
    "PULSEWATCH_TEST_S3_STAGING",
    "PULSEWATCH_TEST_REDSHIFT_IAM_ROLE",
)
# Session services that are slow to start and that several tests share: under pytest-xdist
# (`make test`: -n auto --dist loadgroup) the tests using one of them run on one worker, which
# starts it once. Every other session service (the temporary Prefect server of `prefect_api`, the
# moto server, the PostgreSQL schema) is per worker: each worker starts or creates its own, on a
# free port or under a unique name, so workers never share state. The default demo's training
# frame and champion (default_demo_training_frame, default_demo_model: about 1.5 s of CPU to
# build) are grouped the same way, so that one worker of `make test-unit` builds them, not each.
SHARED_SERVICES = {
    "alert_stack": "alerts",
    "prefect_server": "prefect-server",
    "default_demo_training_frame": "default-demo",
}
# The unit tests marked `prefect` import Prefect, which costs a process about 1.2 s of CPU the
# first time: they run on one xdist worker, so that the other worker of `make test-unit` never
# imports it (measured 2026-12-04: one worker of that run did, 1.6 s for its first such test).
PREFECT_GROUP = "prefect"


# The tiers (pyproject.toml markers). A test's tier is its closest tier marker: a module's
# `pytestmark` is the default, a test's own marker (or its parameter's) overrides it; the others
# are dropped at collection, so `-m unit` selects by the tier alone. `unit` is pure functions on
# tiny frames in this process: no service fixture (checked at collection), no PostgreSQL, moto or
# subprocess (refused when it happens, below). `make test-unit` is a seconds-long loop.
TIERS = ("unit", "cli", "flow", "integration", "redshift")
SERVICE_FIXTURES = {
    "pg",
    "postgres_schema",
    "aws",
    "moto_endpoint",
    "prefect_api",
    "prefect_server",
    "alert_stack",
    "redshift",
    "start_receiver",
}


def tier_of(node: pytest.Item) -> str | None:
    return next((m.name for m in node.iter_markers() if m.name in TIERS), None)


def settle_tiers(items: list[pytest.Item]) -> list[str]:
    """Leave each test its one tier (the closest marker); one line per test without a tier,
    with two on itself, or unit with a service fixture or without `mark.unit` in its file
    (`make test-unit` reads only the files that say it, see pytest_ignore_collect)."""
    problems = []
    for item in items:
        tier = tier_of(item)
        own = [m.name for m in item.own_markers if m.name in TIERS]
        if tier is None or len(own) > 1:
            problems.append(f"{item.nodeid}: tier {own or 'none'}; give it one of {TIERS}")
            continue
        if tier == "unit":
            if services := SERVICE_FIXTURES & set(item.fixturenames):
                problems.append(
                    f"{item.nodeid}: a unit test uses {', '.join(sorted(services))}; "
                    "mark it integration"
                )
            if "mark.unit" not in item.path.read_text(encoding="utf-8"):
                problems.append(f"{item.nodeid}: write its unit marker in {item.path.name}")
        if not own:
            item.add_marker(tier)
    for item in items:
        for node in item.listchain()[:-1]:
            node.own_markers[:] = [m for m in node.own_markers if m.name not in TIERS]
    return problems


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`make test-unit` (-m unit) does not import the test files that hold no unit test (the
    flow and service tests import Prefect and friends: seconds per worker). Same selection:
    a unit test's file always says `mark.unit` (settle_tiers checks it)."""
    if (config.option.markexpr or "").strip() != "unit":
        return None
    if collection_path.is_dir():
        # nor the folders without one (their conftest.py start Prefect servers and the like)
        return not any(_says_unit(path) for path in collection_path.rglob("test_*.py")) or None
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return not _says_unit(collection_path) or None
    return None


def _says_unit(path: Path) -> bool:
    return "mark.unit" in path.read_text(encoding="utf-8")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups and before -m deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test gets its one tier (see TIERS). Group the tests of a shared service on one
    xdist worker. Tests marked `redshift` run only under `make test-redshift` (`-m redshift`)
    and only when the real account is configured; anywhere else they are skipped with the
    reason."""
    if problems := settle_tiers(items):
        raise pytest.UsageError("tests without an honest tier:\n" + "\n".join(problems))
    missing = [name for name in REDSHIFT_ENV if not os.environ.get(name)]
    selected = "redshift" in (config.option.markexpr or "")
    for item in items:
        for fixture, group in SHARED_SERVICES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break
        else:
            if item.get_closest_marker("prefect") is not None:
                item.add_marker(pytest.mark.xdist_group(PREFECT_GROUP))
        if item.get_closest_marker("redshift") is None:
            continue
        if not selected:
            item.add_marker(
                pytest.mark.skip(reason="real Redshift account: run `make test-redshift`")
            )
        elif missing:
            item.add_marker(pytest.mark.skip(reason=f"set {', '.join(missing)} to run it"))
    # Longest first: pytest-xdist hands out the tests in this order (after the groups), two at a
    # time per worker, so a test of minutes handed out last would keep one worker busy while
    # the others sit idle. A stable sort: the order within `long` and within the rest stays.
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


TEMPLATE_BUILD = pytest.StashKey[Any]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """On the xdist controller (or the one process) of a run with flow or integration tests:
    start building the run's Prefect database (tests/support/prefect_db.py) in the background,
    while the workers collect; otherwise each worker's first server would wait for the build."""
    config = session.config
    marks = (config.option.markexpr or "").strip()
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    if marks and not any(tier in marks for tier in ("flow", "integration")):
        return
    from tests.support.prefect_db import build_in_background

    config.stash[TEMPLATE_BUILD] = build_in_background(config._tmp_path_factory.getbasetemp())


def pytest_sessionfinish(session: pytest.Session) -> None:
    if (build := session.config.stash.get(TEMPLATE_BUILD, None)) is not None:
        build.join(timeout=300)


def pytest_unconfigure(config: pytest.Config) -> None:
    """A pytest-xdist worker leaves without tearing its interpreter down. Its results are
    reported by then, its fixtures torn down and its servers stopped, but freeing every module
    and object it holds (pandas, LightGBM, Prefect, the frames and models of its tests) took
    the workers of `make test-unit` 1.2-1.9 s after their last test, and the controller waits
    for the workers' processes to end (execnet) before it ends the run. An exit handler
    registered now runs first (LIFO) and ends the process with os._exit: Python has already
    joined the process's non-daemon threads (a test that leaks one still hangs the run), and
    the other exit handlers are skipped (Prefect's drains towards servers that are stopped;
    pytest keeps or removes its own temporary folders itself). The controller and a run
    without workers (PYTEST_WORKERS=0) exit normally."""
    if hasattr(config, "workerinput"):
        import atexit

        atexit.register(_leave_now)


def _leave_now() -> None:
    import sys

    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(0)


def ungrouped(items: list[pytest.Item]) -> list[str]:
    """The tests marked with an xdist group whose node id lacks the `@group` suffix that
    pytest-xdist's `--dist loadgroup` schedules by: were there any, the tests of one shared
    service would be spread over the workers and each would start the service."""
    return [
        item.nodeid
        for item in items
        if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid
    ]


UNGROUPED = pytest.StashKey[set[str]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker under `--dist loadgroup`, after pytest-xdist suffixed the node ids:
    note the grouped tests it left without a suffix (pytest 9.2 with pytest-xdist 3.8 silently
    drops it, pytest-dev/pytest-xdist#1386; pyproject.toml pins pytest below 9.2)."""
    config = session.config
    if hasattr(config, "workerinput") and config.getvalue("loadgroup"):
        config.stash[UNGROUPED] = set(ungrouped(session.items))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A grouped test that xdist would not keep on one worker fails before its fixtures start
    (an exception in a worker's collection hooks shows only as "worker crashed")."""
    if item.nodeid in item.config.stash.get(UNGROUPED, set()):
        pytest.fail(
            "pytest-xdist did not group this test with the others of its shared service "
            "(each worker would start the service): see the pytest pin in pyproject.toml",
            pytrace=False,
        )


def _refuse_in_unit(request: pytest.FixtureRequest, what: str) -> None:
    if tier_of(request.node) == "unit":
        pytest.fail(f"a unit test does not use {what}: mark it integration (or cli)")


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit test that starts a process fails, naming it: spawning the console script or a
    tool is the `cli` tier's business (seconds per process)."""
    if tier_of(request.node) != "unit":
        return

    def refuse(self: subprocess.Popen, args: object, *rest: object, **kwargs: object) -> None:
        raise AssertionError(
            f"a unit test started a process ({args!r}): mark it cli (or integration)"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own warehouse file, model store and work dir; no .env leaks in."""
    from tasks.settings import get_settings

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
    from tasks.warehouse import warehouse_for_url

    warehouse = warehouse_for_url(f"duckdb:///{tmp_path}/warehouse.duckdb")
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[DemoSpec], Path]:
    """The DuckDB file write_demo_data(spec) leaves, written once per session (per xdist
    worker). Tests take a copy of it (`copy_demo`), so each still has a warehouse of its own."""
    files: dict[DemoSpec, Path] = {}

    def build(spec: DemoSpec) -> Path:
        from tasks.demo_data import write_demo_data
        from tasks.warehouse import warehouse_for_url

        if spec not in files:
            path = tmp_path_factory.mktemp("demo") / "warehouse.duckdb"
            with warehouse_for_url(f"duckdb:///{path}") as warehouse:
                write_demo_data(warehouse, spec)
            files[spec] = path
        return files[spec]

    return build


def copy_demo(demo_file: Callable[[DemoSpec], Path], spec: DemoSpec, folder: Path) -> Warehouse:
    """A DuckDB warehouse at folder/warehouse.duckdb holding the demo data of `spec` (a copy of
    the session's file: the same rows, in a file of its own). Close it after use."""
    from tasks.warehouse import warehouse_for_url

    source, path = demo_file(spec), folder / "warehouse.duckdb"
    shutil.copyfile(source, path)
    wal = source.with_name(source.name + ".wal")  # none after a clean close; copied if there
    if wal.exists():
        shutil.copyfile(wal, path.with_name(path.name + ".wal"))
    return warehouse_for_url(f"duckdb:///{path}")


@pytest.fixture
def demo_duck(tmp_path: Path, demo_file: Callable[[DemoSpec], Path]) -> Iterator[Warehouse]:
    """The configured DuckDB warehouse (tmp_path/warehouse.duckdb) holding SMALL_DEMO."""
    from tests.conftest import SMALL_DEMO

    warehouse = copy_demo(demo_file, SMALL_DEMO, tmp_path)
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="session")
def default_demo_training_frame(
    demo_file: Callable[[DemoSpec], Path], tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    """The 18-month training frame ending SCORE_DATE on DEFAULT_DEMO, extracted once per
    session: read it only (`default_demo_frame` gives each test a copy)."""
    from tasks.features import TrainingWindow, extract_training_frame
    from tests.conftest import DEFAULT_DEMO

    with copy_demo(demo_file, DEFAULT_DEMO, tmp_path_factory.mktemp("frame")) as warehouse:
        return extract_training_frame(warehouse, TrainingWindow.ending(SCORE_DATE, 18))


@pytest.fixture
def default_demo_frame(default_demo_training_frame: pd.DataFrame) -> pd.DataFrame:
    return default_demo_training_frame.copy()


@pytest.fixture(scope="session")
def default_demo_model(default_demo_training_frame: pd.DataFrame):  # -> PulseModel
    """fit_model with the default TrainingConfig on the default demo frame (the champion
    `make run` would train), fitted once per session: tests only read it."""
    from tasks.training import TrainingConfig, fit_model

    return fit_model(default_demo_training_frame, TrainingConfig(), SCORE_DATE)


def _postgres_available() -> str | None:
    import sqlalchemy as sa

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
    import sqlalchemy as sa

    schema = f"pw_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture
def pg(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Warehouse]:
    """A PostgreSQL warehouse in the session schema, configured as the active warehouse."""
    _refuse_in_unit(request, "PostgreSQL")
    import sqlalchemy as sa

    from tasks.settings import get_settings
    from tasks.warehouse import warehouse_for_url

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


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.integration)])
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
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """AWS clients in this test talk to the moto server; a fresh bucket `pulsewatch-test-<n>`."""
    _refuse_in_unit(request, "the moto server")
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
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server for the whole session (flow tests), on a copy of the run's
    built Prefect database (tests/support/prefect_db.py)."""
    from unittest import mock

    from prefect.settings import (
        PREFECT_API_BLOCKS_REGISTER_ON_START,
        PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    from tests.support.prefect_db import prefect_database

    folder = tmp_path_factory.mktemp("prefect-harness")
    prefect_database(tmp_path_factory.getbasetemp(), folder / "prefect-test.db")
    # The server does not store events: no test under it reads them (the alert and ECS worker
    # tests, which do, have servers of their own). Storing them cost about a tenth of the CPU of
    # a flow test (tests/flows/test_nightly.py, 2026-12-04: 53.1 s -> 48.5 s of CPU).
    settings = {
        PREFECT_API_BLOCKS_REGISTER_ON_START: False,
        PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED: False,
    }
    # prefect_test_harness puts its database, prefect-test.db, in a new mkdtemp() folder
    with (
        mock.patch("prefect.testing.utilities.mkdtemp", return_value=str(folder)),
        temporary_settings(settings),
        prefect_test_harness(server_startup_timeout=120),
    ):
        yield
