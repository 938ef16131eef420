"""Scenario 7, the Prefect API lost *during* a run: the scoring process talks to the API
through a loopback TCP proxy that the test cuts (listener closed, every connection reset) while
the run is scoring. Whatever Prefect makes of it, the date afterwards holds the complete
previous scores or the complete new ones, one row per employee, and the process ends."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.settings import PREFECT_API_URL

from flows.nightly import nightly_pipeline
from tasks.demo_data import write_demo_data
from tests.conftest import SMALL_DEMO
from tests.support.flow_checks import active_employees, risk_by_employee, score_rows

pytestmark = pytest.mark.integration
CLI = str(Path(sys.executable).with_name("pulsewatch"))
DAY = date(2026, 11, 20)


class CuttableProxy:
    """Forwards loopback TCP connections to `upstream` until cut()."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.connections = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, upstream]
                self.connections += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _flow_run_ids(warehouse) -> set[str]:
    query = (
        f"SELECT DISTINCT flow_run_id FROM {warehouse.qualified('condition_scores')} "
        "WHERE score_date = :d"
    )
    with warehouse.engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.text(query), {"d": DAY}).all()}


@pytest.mark.long
def test_prefect_api_lost_while_scoring_leaves_a_whole_date(pg, prefect_api, tmp_path):
    write_demo_data(pg, SMALL_DEMO)
    nightly_pipeline(score_date=DAY)
    before = risk_by_employee(pg, DAY)
    before_runs = _flow_run_ids(pg)
    active = active_employees(pg, DAY)

    api = sa.make_url(PREFECT_API_URL.value().replace("http://", "postgresql://"))
    proxy = CuttableProxy((api.host, api.port))
    env = {
        **os.environ,
        "PREFECT_API_URL": f"http://127.0.0.1:{proxy.port}/api",
        "PREFECT_CLIENT_MAX_RETRIES": "1",
    }
    child = subprocess.Popen(
        [CLI, "score", "--date", DAY.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    work = tmp_path / "work"
    deadline = time.monotonic() + 240
    while not any(work.glob("scores-*.parquet")):  # the run is scoring now
        assert child.poll() is None, child.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the run never started scoring"
        time.sleep(0.02)
    proxy.cut()
    _, stderr = child.communicate(timeout=240)  # the process ends, it does not hang

    assert proxy.connections >= 1  # the run did talk to the API through the proxy
    assert score_rows(pg, DAY) == (active, active)  # one complete set, one row per employee
    runs = _flow_run_ids(pg)
    assert len(runs) == 1  # never a mix of two runs' rows
    if runs == before_runs:
        assert risk_by_employee(pg, DAY) == before
    print(f"exit {child.returncode}; kept {'previous' if runs == before_runs else 'new'} scores")
    print(stderr.strip().splitlines()[-1] if stderr.strip() else "")
