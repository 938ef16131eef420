"""Fixtures for infra/ tests: the template, a moto server and HTTP receivers on loopback.

AWS, Slack and the Prefect API are the edges of the world here; each is a real server bound to
127.0.0.1 on an ephemeral port, so the notifier's own boto3 and urllib code runs unchanged.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
TEMPLATE = INFRA / "template.yaml"
NOTIFIER_DIR = INFRA / "lambda" / "slack_notifier"
EVENTS_DIR = NOTIFIER_DIR / "events"
REGION = "ap-northeast-1"

# `lambda` is a Python keyword, so the notifier cannot be a package under infra/; the Lambda
# runtime imports its modules top-level from the zip root, and so do the tests.
if str(NOTIFIER_DIR) not in sys.path:
    sys.path.insert(0, str(NOTIFIER_DIR))


def load_template() -> dict[str, Any]:
    """The template with intrinsic tags as JSON functions (!Ref x -> {"Ref": "x"}): parsed
    once, a fresh copy per call."""
    return json.loads(_template_json())


@functools.cache
def _template_json() -> str:
    # cfn-lint's decoder brings sympy and networkx (~900 modules): imported on first use only
    from cfnlint.decode import cfn_yaml

    return json.dumps(cfn_yaml.load(str(TEMPLATE)))


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 with an ephemeral port, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 (ours and the notifier's) at the moto server with fake credentials."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_endpoint


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A stdlib HTTP server that records requests and answers with `respond(request)`."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    respond: Callable[[Recorded], tuple[int, bytes]] = lambda _request: (200, b"ok")


@pytest.fixture
def start_receiver() -> Iterator[Callable[[], Receiver]]:
    """Start as many loopback HTTP receivers as a test needs (Slack, the Prefect API)."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start() -> Receiver:
        receiver = Receiver(url="")

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                receiver.requests.append(request)
                status, body = receiver.respond(request)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
        return receiver

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()
