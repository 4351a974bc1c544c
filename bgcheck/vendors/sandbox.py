"""The sandbox vendor: in-process, deterministic, for the embedded default and demos.

An SSN ending in ``0000`` yields a report with a criminal-record finding; any other
yields a clear report. An order completes ``delay_seconds`` after it was placed; the
worker learns of it by polling (the sandbox sends no webhooks).

The reference carries everything the sandbox needs to answer later (when it was placed
and which outcome it will have), so answers survive a restart and agree across the
API and worker processes. That puts the outcome in the reference, which a real vendor
would never do; the sandbox only ever sees test data.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from bgcheck.vendors.base import (
    Order,
    OrderRequest,
    OrderStatus,
    VendorRejected,
    WebhookNotice,
    WebhookRejected,
)
from bgcheck.vendors.report import Check, Finding, Report, Result

RECORD_SSN_SUFFIX = "0000"
PREFIX = "SBX"
_RECORD, _CLEAR = "R", "C"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SandboxVendor:
    name: str = "Sandbox Screening (test vendor)"
    delay_seconds: float = 2.0
    clock: Callable[[], datetime] = field(default=_now, repr=False)  # tests move time
    # Cancellations and reinvestigations asked of this process (lost on restart: harmless,
    # the workflow ignores news about a cancelled case).
    _cancelled: set[str] = field(default_factory=set, repr=False)
    _reinvestigations: dict[str, datetime] = field(default_factory=dict, repr=False)
    _placed: dict[str, str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def poll_after_seconds(self) -> float:
        return self.delay_seconds

    def place_order(self, request: OrderRequest) -> Order:
        with self._lock:
            reference = self._placed.get(request.idempotency_key)
            if reference is None:
                # Letters, then the time in hex: never nine digits in a row, which the
                # audit trail would take for an SSN.
                digest = hashlib.sha256(request.idempotency_key.encode()).digest()[:10]
                letters = "".join(chr(ord("A") + byte % 26) for byte in digest)
                outcome = _RECORD if request.subject.ssn.endswith(RECORD_SSN_SUFFIX) else _CLEAR
                placed = int(self.clock().timestamp())
                reference = f"{PREFIX}-{letters}-{placed:X}{outcome}"
                self._placed[request.idempotency_key] = reference
        return self.fetch(reference)

    def cancel_order(self, reference: str, *, idempotency_key: str) -> Order:
        order = self.fetch(reference)
        if order.status is OrderStatus.COMPLETE:
            return order
        with self._lock:
            self._cancelled.add(reference)
        return self.fetch(reference)

    def request_reinvestigation(
        self, reference: str, *, idempotency_key: str, statement: str
    ) -> Order:
        with self._lock:
            self._reinvestigations.setdefault(reference, self.clock())
        return self.fetch(reference)

    def fetch(self, reference: str) -> Order:
        placed, outcome = _parse(reference)
        now = self.clock()
        if reference in self._cancelled:
            return Order(reference, OrderStatus.CANCELLED)
        asked = self._reinvestigations.get(reference)
        if asked is not None and now - asked < timedelta(seconds=self.delay_seconds):
            return Order(reference, OrderStatus.DISPUTED)
        if now - placed < timedelta(seconds=self.delay_seconds):
            return Order(reference, OrderStatus.PENDING)
        report = _report(
            self.name, reference, outcome, placed + timedelta(seconds=self.delay_seconds)
        )
        reinvestigated = asked + timedelta(seconds=self.delay_seconds) if asked else None
        return Order(reference, OrderStatus.COMPLETE, report.result, report, reinvestigated)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        raise WebhookRejected("the sandbox vendor sends no webhooks")


def _parse(reference: str) -> tuple[datetime, str]:
    try:
        prefix, _digest, tail = reference.split("-")
        placed, outcome = int(tail[:-1], 16), tail[-1]
    except ValueError:
        raise VendorRejected("not a sandbox order reference") from None
    if prefix != PREFIX or outcome not in (_RECORD, _CLEAR):
        raise VendorRejected("not a sandbox order reference")
    return datetime.fromtimestamp(placed, UTC), outcome


# The criminal-record finding an SSN ending in 0000 gets.
_FINDING = Finding(
    jurisdiction="Suffolk County, MA",
    offense="Larceny over $1,200 (G.L. c. 266, § 30)",
    severity="felony",
    disposition="Continued without a finding; dismissed after probation",
    offense_date=date(2016, 3, 14),
    disposition_date=date(2017, 9, 1),
    source="Massachusetts iCORI",
)


def _report(vendor: str, reference: str, outcome: str, completed: datetime) -> Report:
    result = Result.CONSIDER if outcome == _RECORD else Result.CLEAR
    checks = [
        Check(name="SSN trace", status=Result.CLEAR, completed_at=completed),
        Check(name="National criminal database", status=Result.CLEAR, completed_at=completed),
        Check(name="Sex offender registry", status=Result.CLEAR, completed_at=completed),
        Check(
            name="Massachusetts CORI",
            status=result,
            completed_at=completed,
            findings=[_FINDING] if result is Result.CONSIDER else [],
        ),
    ]
    return Report(
        vendor=vendor,
        reference=reference,
        package="standard",
        result=result,
        completed_at=completed,
        checks=checks,
    )
