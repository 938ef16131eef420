"""A real `prefect server` on a free loopback port with a private PREFECT_HOME, for the tests
that deploy and run through work pools."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.prefect_db import COPY_SETTINGS, prefect_database, sqlite_url

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a prefect CLI/worker subprocess talking to this server."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        return {
            **base,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_CLI_COLORS": "false",
            "PREFECT_CLI_WRAP_LINES": "false",
            "COLUMNS": "200",
            **extra,
        }

    def prefect(self, *args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
        env = kwargs.pop("env", None) or self.env()
        return subprocess.run(
            [str(BIN / "prefect"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            **kwargs,
        )


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    server = PrefectServer(f"http://127.0.0.1:{port}/api", home)
    database = prefect_database(tmp_path_factory.getbasetemp(), home / "prefect.db")
    env = server.env(
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_DATABASE_CONNECTION_URL=sqlite_url(database),
        # No scheduled runs: the tests start their runs themselves, and a nightly run the
        # scheduler queued would come due at 02:00 Asia/Tokyo (17:00 UTC) for the workers the
        # tests start; the scheduler also cost CPU creating a hundred future runs per deploy.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        **COPY_SETTINGS,
    )
    env.pop("PREFECT_API_URL")
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def redshift(pg, aws):
    """A `redshift+psycopg2` warehouse on the local PostgreSQL with S3 staging on moto."""
    from tests.conftest import POSTGRES_URL
    from tests.support.redshift_emulation import ROLE, emulated_redshift

    warehouse = emulated_redshift(POSTGRES_URL, pg.schema, aws, ROLE)
    yield warehouse
    warehouse.close()
