"""What bgcheck needs from a screening vendor, whichever one a deployment uses.

An adapter does four things: place an order (idempotent on a key derived from the
case), cancel it, ask for a dispute reinvestigation, and tell the current state of an
order (``fetch``), report included once complete. A vendor that pushes news does so by
signed webhook; ``verify_webhook`` authenticates one and says which order it is about,
nothing more: bgcheck always re-fetches the order before acting, because vendors
deliver out of order and more than once.

Adapters do no database work and never see a key: the worker hands them the
candidate's data for an order and stores what they return.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from bgcheck.vendors.report import Report, Result


class OrderStatus(enum.StrEnum):
    """The vendor's own processing status, kept beside the case state."""

    PENDING = "pending"  # accepted, being worked on
    SUSPENDED = "suspended"  # the vendor needs more information
    COMPLETE = "complete"
    DISPUTED = "disputed"  # a reinvestigation is under way
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str
    from_: date
    to: date | None = None
    line2: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """The person to screen: what the candidate gave on the consent form."""

    given_name: str
    family_name: str
    date_of_birth: date
    ssn: str  # nine digits
    addresses: tuple[Address, ...]
    other_names: tuple[str, ...] = ()
    email: str | None = None
    phone: str | None = None
    drivers_license: tuple[str, str] | None = None  # (number, state)

    def __repr__(self) -> str:  # never let a traceback or a log line print the PII
        return "Subject(<redacted>)"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    idempotency_key: str  # the same for every retry of the same order
    external_id: str  # the case id, so the vendor's records point back to ours
    package: str
    subject: Subject = field(repr=False)


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the vendor sees it now."""

    reference: str
    status: OrderStatus
    result: Result | None = None
    report: Report | None = field(default=None, repr=False)  # set once complete
    # Set when a dispute reinvestigation has finished (status back to complete).
    reinvestigated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebhookNotice:
    """An authenticated webhook: which delivery, which order, what it claims happened."""

    delivery_id: str  # unique per delivery attempt series; the inbox dedupes on it
    reference: str | None  # the vendor's order reference, when the body names one
    kind: str  # the vendor's event type, recorded, never trusted for the state


class VendorError(Exception):
    """A call to the vendor failed in a way worth retrying later (timeout, 5xx, network).

    The message is safe to log: status codes and error classes, never request bodies.
    """


class VendorRejected(Exception):
    """The vendor refused the request itself (4xx): retrying the same call will not help."""


class WebhookRejected(Exception):
    """A webhook failed authentication: unsigned, wrongly signed, stale, or malformed."""


class Vendor(Protocol):
    name: str  # shown in notices ("the consumer reporting agency")

    # Poll an open order after this long without news; webhooks make it rarer, not moot.
    # Read-only: a plain attribute (HttpVendor) or a property (SandboxVendor) both fit.
    @property
    def poll_after_seconds(self) -> float: ...

    def place_order(self, request: OrderRequest) -> Order: ...

    def cancel_order(self, reference: str, *, idempotency_key: str) -> Order: ...

    def request_reinvestigation(
        self, reference: str, *, idempotency_key: str, statement: str
    ) -> Order: ...

    def fetch(self, reference: str) -> Order: ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice: ...
