"""The one free-port helper of the test services, the benchmarks and the demo."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port nobody listens on right now: bound to port 0, the OS's pick, then
    released. A server started on it next may race another process for it; the services that
    use it retry or fail with their log, and pytest-xdist workers each ask the OS separately."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
