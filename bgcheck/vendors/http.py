"""A screening vendor reached over JSON/HTTP, with signed webhooks (docs/vendor-http.md).

Every call is idempotent (a GET, or a POST carrying an ``Idempotency-Key``), so a
transient failure is retried a few times at once with short waits; the outbox behind
the worker does the long backoff. Errors say which call failed and how (method, path
template, status or error class), never what was sent or received: bodies hold PII.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import stamina
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from bgcheck.platform.settings import Settings
from bgcheck.vendors.base import (
    Order,
    OrderRequest,
    OrderStatus,
    Subject,
    VendorError,
    VendorRejected,
    WebhookNotice,
)
from bgcheck.vendors.report import Report, Result
from bgcheck.vendors.signatures import SignatureScheme, scheme_for

ORDERS = "/v1/orders"
ORDER = "/v1/orders/{id}"
CANCEL = "/v1/orders/{id}/cancel"
REINVESTIGATIONS = "/v1/orders/{id}/reinvestigations"

# 408 and 429 are the vendor asking us to come back later, not refusing the request.
RETRYABLE_4XX = frozenset({408, 429})


class _Transient(VendorError):
    """A failure worth an immediate retry (timeout, network, 5xx)."""


class _OrderWire(BaseModel):
    """The order JSON as the vendor sends it; unknown fields are the vendor's business."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=128)
    external_id: str | None = Field(default=None, max_length=128)
    status: OrderStatus
    result: Result | None = None
    report: Report | None = None
    reinvestigated_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _complete_means_reported(self) -> _OrderWire:
        if self.status is OrderStatus.COMPLETE and self.report is None:
            raise ValueError("a complete order without its report")
        if self.result is None and self.report is not None:
            self.result = self.report.result
        return self


class HttpVendor:
    """The ``Vendor`` protocol over the wire protocol in docs/vendor-http.md."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        webhooks: SignatureScheme,
        name: str = "HTTP vendor",
        timeout_seconds: float = 10.0,
        poll_after_seconds: float = 3600.0,
        attempts: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("the vendor URL must be an http(s):// URL")
        if not api_key:
            raise ValueError("the vendor API key may not be empty")
        self.name = name
        self.poll_after_seconds = poll_after_seconds
        self.attempts = attempts
        self._webhooks = webhooks
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "bgcheck"},
            timeout=timeout_seconds,
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpVendor:
        if settings.vendor_url is None or settings.vendor_api_key is None:
            raise ValueError("BGCHECK_VENDOR_URL and BGCHECK_VENDOR_API_KEY must be set")
        return cls(
            base_url=settings.vendor_url,
            api_key=settings.vendor_api_key.get_secret_value(),
            webhooks=scheme_for(settings),
            name=settings.vendor_name,
            timeout_seconds=settings.vendor_timeout_seconds,
            poll_after_seconds=settings.vendor_poll_after_minutes * 60,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpVendor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def place_order(self, request: OrderRequest) -> Order:
        body = {
            "external_id": request.external_id,
            "package": request.package,
            "subject": subject_json(request.subject),
        }
        wire = self._call("POST", ORDERS, key=request.idempotency_key, body=body)
        if wire.external_id != request.external_id:
            raise VendorError(f"POST {ORDERS}: the vendor answered with another order")
        return _order(wire)

    def cancel_order(self, reference: str, *, idempotency_key: str) -> Order:
        return _order(self._call("POST", CANCEL, reference=reference, key=idempotency_key))

    def request_reinvestigation(
        self, reference: str, *, idempotency_key: str, statement: str
    ) -> Order:
        wire = self._call(
            "POST",
            REINVESTIGATIONS,
            reference=reference,
            key=idempotency_key,
            body={"statement": statement},
        )
        return _order(wire)

    def fetch(self, reference: str) -> Order:
        return _order(self._call("GET", ORDER, reference=reference))

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        return self._webhooks.verify(headers, body)

    def _call(
        self,
        method: str,
        template: str,
        *,
        reference: str | None = None,
        key: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> _OrderWire:
        where = f"{method} {template}"
        path = template
        if reference is not None:
            if not 0 < len(reference) <= 128:
                raise VendorRejected(f"{where}: the order reference is empty or too long")
            path = template.format(id=quote(reference, safe=""))
        if key is not None and not 0 < len(key) <= 255:
            raise VendorRejected(f"{where}: the idempotency key is empty or too long")
        headers = {"Idempotency-Key": key} if key is not None else {}
        # retry_context, not the decorator: stamina logs a decorated call's arguments.
        for attempt in stamina.retry_context(
            on=_Transient, attempts=self.attempts, wait_initial=0.2, wait_max=2.0
        ):
            with attempt:
                response = self._send(where, method, path, headers, body)
        wire = _parse(where, response)
        if reference is not None and wire.id != reference:
            raise VendorError(f"{where}: the vendor answered with another order")
        return wire

    def _send(
        self,
        where: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
    ) -> httpx.Response:
        try:
            response = self._client.request(method, path, headers=headers, json=body)
        except httpx.TimeoutException as exc:
            raise _Transient(f"{where}: timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise _Transient(f"{where}: {type(exc).__name__}") from None
        status = response.status_code
        if status >= 500 or status in RETRYABLE_4XX:
            raise _Transient(f"{where}: the vendor answered {status}")
        if status >= 400:
            raise VendorRejected(f"{where}: the vendor refused the request ({status})")
        if status not in (200, 201):
            raise VendorError(f"{where}: unexpected answer {status}")
        return response


def subject_json(subject: Subject) -> dict[str, Any]:
    """The subject as the wire protocol spells it."""
    license_ = subject.drivers_license
    return {
        "given_name": subject.given_name,
        "family_name": subject.family_name,
        "other_names": list(subject.other_names),
        "date_of_birth": subject.date_of_birth.isoformat(),
        "ssn": subject.ssn,
        "addresses": [
            {
                "line1": address.line1,
                "line2": address.line2,
                "city": address.city,
                "state": address.state,
                "postal_code": address.postal_code,
                "from": address.from_.isoformat(),
                "to": address.to.isoformat() if address.to else None,
            }
            for address in subject.addresses
        ],
        "email": subject.email,
        "phone": subject.phone,
        "drivers_license": (
            {"number": license_[0], "state": license_[1]} if license_ is not None else None
        ),
    }


def _parse(where: str, response: httpx.Response) -> _OrderWire:
    # ``from None``: a validation error quotes the input, and the input is a report.
    try:
        return _OrderWire.model_validate(response.json())
    except (ValueError, ValidationError, RecursionError):  # JSONDecodeError is a ValueError
        raise VendorError(f"{where}: malformed answer from the vendor") from None


def _order(wire: _OrderWire) -> Order:
    return Order(
        reference=wire.id,
        status=wire.status,
        result=wire.result,
        report=wire.report,
        reinvestigated_at=wire.reinvestigated_at,
    )
