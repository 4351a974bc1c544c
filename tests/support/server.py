"""Run a real ``bgcheck serve`` process for a test, on a loopback port, and stop it after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environ(**settings: str) -> dict[str, str]:
    """This process's environment without any BGCHECK_ setting, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BGCHECK_")}
    return env | settings


@contextmanager
def running_server(env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """Start ``bgcheck serve`` and wait until ``/healthz`` answers; yield its base URL."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bgcheck", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
