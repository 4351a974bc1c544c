"""A `bgcheck serve` process (or the bare "hello" app) on loopback, for the benchmarks that
measure real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

HELLO = Path(__file__).with_name("hello.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    env: dict[str, str], port: int, *, wrapper: Sequence[str] = (), seconds: float = 30
) -> subprocess.Popen[bytes]:
    """Start the API and wait (``seconds`` at most) until it answers `/healthz`.

    ``wrapper`` runs it under another program (valgrind: give it minutes, not seconds).
    """
    command = [*wrapper, sys.executable, "-m", "bgcheck", "serve", "--port", str(port)]
    return _started(command, env, port, seconds)


def start_hello(port: int) -> subprocess.Popen[bytes]:
    """Start the bare FastAPI app of ``hello.py``, served with the same uvicorn settings."""
    return _started([sys.executable, str(HELLO), "--port", str(port)], None, port, 30)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _started(
    command: list[str], env: dict[str, str] | None, port: int, seconds: float
) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("server did not start")
