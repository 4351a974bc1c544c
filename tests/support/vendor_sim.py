"""Run a real ``bgcheck vendor-sim`` process for a test, on a free loopback port.

    with running_sim(webhook_url=receiver.url, delay=0.2) as sim:
        vendor = HttpVendor(base_url=sim.url, api_key=sim.api_key, ...)
        sim.faults(fail_next=2)
        assert sim.stats()["orders"] == 1

The simulator is its own process, as in production a vendor is: the tests exercise real
HTTP, real signatures and real process start and stop.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class RunningSim:
    url: str
    api_key: str
    secret: str
    process: subprocess.Popen[bytes]
    log_file: Path

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=10
        )

    def stats(self) -> dict[str, Any]:
        with self._client() as client:
            return client.get("/_sim/stats").raise_for_status().json()

    def faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the injected faults (any omitted one is off); ``faults()`` clears them."""
        with self._client() as client:
            return client.post("/_sim/faults", json=faults).raise_for_status().json()

    def reset(self) -> None:
        with self._client() as client:
            client.post("/_sim/reset").raise_for_status()

    def settings_overrides(self) -> dict[str, Any]:
        """``load_settings(**sim.settings_overrides())``: bgcheck configured for this vendor."""
        return {
            "vendor": "http",
            "vendor_url": self.url,
            "vendor_api_key": self.api_key,
            "vendor_webhook_secret": self.secret,
            "vendor_webhook_scheme": "standard",
        }

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


@contextmanager
def running_sim(
    *,
    webhook_url: str | None = None,
    delay: float = 0.2,
    api_key: str | None = None,
    secret: str | None = None,
    name: str = "Vendor Simulator",
) -> Iterator[RunningSim]:
    """Start the simulator, wait until it answers, and stop it (SIGTERM) afterwards."""
    api_key = api_key or secrets.token_urlsafe(16)
    secret = secret or new_webhook_secret()
    with tempfile.TemporaryDirectory(prefix="vendor-sim-") as folder:
        log_file = Path(folder) / "sim.log"
        sim = _start(log_file, webhook_url, delay, api_key, secret, name)
        try:
            yield sim
        finally:
            _stop(sim.process)


def _start(
    log_file: Path, webhook_url: str | None, delay: float, api_key: str, secret: str, name: str
) -> RunningSim:
    # The port is free when asked and taken a moment later; if someone takes it in
    # between, the simulator exits at once and we try another one.
    for _ in range(3):
        port = _free_port()
        args = [sys.executable, "-m", "bgcheck", "vendor-sim", "--port", str(port)]
        args += ["--delay", str(delay), "--name", name]
        if webhook_url is not None:
            args += ["--webhook-url", webhook_url]
        env_secrets = {"BGCHECK_SIM_API_KEY": api_key, "BGCHECK_SIM_WEBHOOK_SECRET": secret}
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**_environ(), **env_secrets},
            )
        sim = RunningSim(f"http://127.0.0.1:{port}", api_key, secret, process, log_file)
        if _wait_ready(sim):
            return sim
        _stop(process)
    raise RuntimeError(f"bgcheck vendor-sim did not start:\n{log_file.read_text()[-3000:]}")


def _environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("BGCHECK_SIM")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(sim: RunningSim) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if sim.process.poll() is not None:
            return False
        try:
            # Our key, so that another server that took the port does not pass for ours.
            headers = {"Authorization": f"Bearer {sim.api_key}"}
            if httpx.get(f"{sim.url}/_sim/stats", headers=headers, timeout=1).is_success:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
