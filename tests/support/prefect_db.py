"""One Prefect database per test run, copied for each Prefect server the tests start.

A fresh server spends most of its start building its SQLite database: the migrations, and the
block types a `prefect server start` with a new PREFECT_HOME registers (measured idle: 14.4 s of
CPU for a fresh start, 5.2 s on a copy of a built database). The first server of a run builds
the template, under a file lock the pytest-xdist workers share; every server starts on its own
copy, with the block registration off (the template holds the block types). The servers still
check the migrations on start, so a template of another Prefect version would be upgraded, and
the template's name carries the version.

The xdist controller starts building the template in the background as the run starts
(tests/conftest.py, pytest_sessionstart), so that the build overlaps the workers' collection
instead of every worker waiting for it at its first server.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path

# Settings for a server started on a copy (the template holds the block types).
COPY_SETTINGS = {"PREFECT_API_BLOCKS_REGISTER_ON_START": "false"}

BUILD = """
import asyncio

import prefect.plugins
from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration


async def build() -> None:  # what a server does on its first start (prefect.server.api.server)
    prefect.plugins.load_prefect_collections()
    db = provide_database_interface()
    await db.create_db()
    async with db.session_context() as session:
        await run_block_auto_registration(session=session)
        await session.commit()


asyncio.run(build())
"""


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def run_root(basetemp: Path) -> Path:
    """The folder all pytest-xdist workers of this run share (a worker's basetemp is below it)."""
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def built_template(root: Path) -> Path:
    """This run's built Prefect database in `root` (built now, under the lock the workers share,
    if it is not there yet)."""
    template = root / f"prefect-{version('prefect')}.db"
    with open(root / "prefect-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not template.exists():
            building = root / "prefect-template-building.db"
            building.unlink(missing_ok=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            env |= {
                "PREFECT_HOME": str(root / "prefect-template-home"),
                "PREFECT_SERVER_DATABASE_CONNECTION_URL": sqlite_url(building),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
            built = subprocess.run(
                [sys.executable, "-c", BUILD], env=env, capture_output=True, text=True, timeout=300
            )
            if built.returncode != 0:
                raise RuntimeError(f"building the Prefect database failed: {built.stderr[-2000:]}")
            building.rename(template)
    return template


def build_in_background(root: Path) -> threading.Thread:
    """Start building the template in a thread of this process. A failed build is left to the
    first server that asks for the template: it builds again and reports the error."""

    def build() -> None:
        with contextlib.suppress(Exception):  # reported by the server that asks next (above)
            built_template(root)

    thread = threading.Thread(target=build, name="prefect-template", daemon=True)
    thread.start()
    return thread


def prefect_database(basetemp: Path, path: Path) -> Path:
    """A copy of this run's built Prefect database at `path` (built first if no server of the
    run has asked yet). Start the server with DATABASE_CONNECTION_URL = sqlite_url(path) and
    COPY_SETTINGS."""
    template = built_template(run_root(basetemp))
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    return path
