"""Fixtures for the vendor tests: fast in-call retries, a webhook receiver, subjects."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

import pytest
import stamina

from bgcheck.vendors.base import Address, Subject

T = TypeVar("T")
WAIT_SECONDS = 15.0  # generous: the machine is shared; nothing asserts on durations


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    """stamina still retries (up to the adapter's own attempts) but never sleeps."""
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


def make_subject(ssn: str = "123456789", **changes: object) -> Subject:
    fields: dict[str, object] = {
        "given_name": "Robin",
        "family_name": "Quill",
        "date_of_birth": date(1990, 4, 1),
        "ssn": ssn,
        "addresses": (Address("1 Main St", "Boston", "MA", "02110", from_=date(2020, 1, 1)),),
        "other_names": ("Robin Q. Quill",),
        "email": "robin@example.org",
        "phone": "617-555-0199",
        "drivers_license": ("S12345678", "MA"),
    }
    return Subject(**{**fields, **changes})  # type: ignore[arg-type]


def wait_until(probe: Callable[[], T | None], what: str) -> T:
    """Poll until ``probe`` returns something truthy; fail (naming ``what``) otherwise."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    answered: int


class WebhookReceiver:
    """A tiny HTTP server on loopback that records every webhook it is sent."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.fail_next = 0  # answer this many deliveries 500
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    status = 500 if receiver.fail_next > 0 else 204
                    receiver.fail_next = max(0, receiver.fail_next - 1)
                    receiver.deliveries.append(Delivery(dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def accepted(self, order_id: str) -> list[Delivery]:
        """The deliveries about ``order_id`` that were answered 2xx, in arrival order."""
        with self._lock:
            return [
                each
                for each in self.deliveries
                if each.answered < 300 and f'"{order_id}"'.encode() in each.body
            ]

    def wait_for(self, order_id: str, count: int) -> list[Delivery]:
        def enough() -> list[Delivery] | None:
            found = self.accepted(order_id)
            return found if len(found) >= count else None

        return wait_until(enough, f"{count} webhooks about {order_id}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()
