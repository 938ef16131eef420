"""Real services on loopback for the alerting tests: a `prefect server start` with its trigger
and action services on, a runner serving the nightly deployment, and an HTTP receiver standing
in for Slack. Every port is a free ephemeral one and every PREFECT_HOME is private, because
other test sessions run Prefect servers on the same machine at the same time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.25) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@dataclass
class Message:
    received_at: float  # time.time()
    path: str
    payload: dict

    @property
    def text(self) -> str:
        """Everything a person would read: top-level text and every attachment's text."""
        parts = [self.payload.get("text", "")]
        for attachment in self.payload.get("attachments", []):
            parts += [attachment.get("title", ""), attachment.get("text", "")]
        return "\n".join(parts)


@dataclass
class Receiver:
    """A Slack incoming webhook stand-in: records every POST, answers `status`."""

    status: int = 200
    messages: list[Message] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/services/T000/B000/secret-token"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"unparsed": body.decode("utf-8", "replace")}
                receiver.messages.append(Message(time.time(), self.path, payload))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"boom")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def about(self, needle: str) -> list[Message]:
        return [m for m in self.messages if needle in m.text]


def _prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


@dataclass
class PrefectServer:
    api_url: str
    ui_url: str
    process: subprocess.Popen
    log: Path


def start_prefect_server(home: Path, database: Path | None = None) -> PrefectServer:
    """`prefect server start` on a free loopback port, services on, its own SQLite in `home`
    (or `database`: a copy of a built one, tests/support/prefect_db.py)."""
    port = free_port()
    ui_url = f"http://127.0.0.1:{port}"
    env = _prefect_env(home)
    if database is not None:
        from tests.support.prefect_db import COPY_SETTINGS, sqlite_url

        env.update(PREFECT_SERVER_DATABASE_CONNECTION_URL=sqlite_url(database), **COPY_SETTINGS)
    env.update(
        # Without these two nothing is ever sent: triggers evaluate automations, and the
        # same setting runs the actions service that calls the notification block.
        PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED="true",
        PREFECT_API_SERVICES_TRIGGERS_ENABLED="true",
        PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED="true",
        # Late runs are marked quickly, proactive triggers evaluated every second.
        PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED="true",
        PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS="2",
        PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS="1",
        PREFECT_SERVER_EVENTS_PROACTIVE_GRANULARITY="PT1S",
        # Nothing here needs schedules, and fewer services leave more CPU to the flows.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_SERVER_SERVICES_FOREMAN_ENABLED="false",
        PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED="false",
        PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        # No PREFECT_UI_URL, as with the README's plain `prefect server start`: links in alerts
        # must not depend on the server knowing its own UI URL (issue 16 item 1).
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
    )
    log = home / "server.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api_url = f"{ui_url}/api"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"prefect server exited: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{api_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, 180, "prefect server health", every=0.5)
    return PrefectServer(api_url, ui_url, process, log)


def start_runner(
    home: Path, api_url: str, extra_env: dict[str, str], log: Path
) -> subprocess.Popen:
    """`nightly_pipeline.serve(name="nightly")` in its own process: the deployment
    nightly-pipeline/nightly, whose runs execute in child processes like on a worker."""
    env = _prefect_env(home, api_url)
    env.update(extra_env)
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.serve_nightly"],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    """End a process group we started (SIGTERM, then SIGKILL)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def children(pid: int) -> list[int]:
    """Direct child PIDs of `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found
