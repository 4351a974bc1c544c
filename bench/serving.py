"""A `bgcheck serve` process on loopback for the benchmarks that measure real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """Start the API and wait (30 s at most) until it answers `/healthz`."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bgcheck", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("server did not start")
