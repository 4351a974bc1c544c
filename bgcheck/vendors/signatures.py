"""How a vendor signs its webhooks, one class per scheme.

A webhook endpoint is open to the internet, so ``verify`` is fail-closed: any input it
cannot authenticate (missing or garbled headers, a wrong signature, a stale timestamp, a
body that is not UTF-8 JSON) raises ``WebhookRejected`` and nothing else, so the caller
needs exactly one ``except`` to answer 401. ``sign`` exists for the vendor simulator and
the tests. See docs/vendor-http.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeGuard

from standardwebhooks.webhooks import Webhook

from bgcheck.platform.settings import Settings
from bgcheck.vendors.base import WebhookNotice, WebhookRejected

# A delivery id, order reference or event type longer than this is not one we would store.
MAX_FIELD_LENGTH = 255
# How far a Standard Webhooks timestamp may be from our clock, either way (the standard's).
TOLERANCE_SECONDS = 5 * 60


class SignatureScheme(Protocol):
    def verify(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice: ...


class StandardWebhooks:
    """Standard Webhooks (standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` and
    ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.

    The timestamp must be within five minutes of our clock either way, which bounds
    replays; inside the window the inbox dedupes on ``webhook-id``.

    The package computes the signature (its ``sign``, and its parsing of the secret); the
    comparison is ours, because its ``verify`` accepts a timestamp of "1700000000.9" with
    the signature of "1700000000" and a base64 signature with its unused bits changed,
    lets malformed input escape as ``ValueError``, and reads only the real clock.
    """

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        try:
            self._webhook = Webhook(secret)
        except Exception:  # the package raises binascii.Error, RuntimeError, its own…
            raise ValueError("the webhook secret is not a whsec_<base64> secret") from None
        self._clock = clock

    def sign(self, body: bytes, *, msg_id: str, timestamp: int | None = None) -> dict[str, str]:
        """The three headers a vendor sends with ``body``; ``timestamp`` defaults to now."""
        when = int(self._clock()) if timestamp is None else timestamp
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(when),
            "webhook-signature": self._signature(body, msg_id, when),
        }

    def verify(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        lowered = _lower(headers)
        msg_id = lowered.get("webhook-id", "")
        timestamp = lowered.get("webhook-timestamp", "")
        if not msg_id or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 16):
            raise WebhookRejected("missing or malformed webhook-id or webhook-timestamp")
        if abs(self._clock() - int(timestamp)) > TOLERANCE_SECONDS:
            raise WebhookRejected("the timestamp is too old or too new")
        try:
            expected = self._signature(body, msg_id, int(timestamp)).encode()
        except ValueError:  # a body that is not UTF-8, an id that does not encode
            raise WebhookRejected("malformed webhook-id or body") from None
        given = lowered.get("webhook-signature", "").split(" ")
        if not any(hmac.compare_digest(each.encode(errors="replace"), expected) for each in given):
            raise WebhookRejected("no matching signature")
        payload = _json_object(body)
        data = payload.get("data")
        return _notice(
            delivery_id=msg_id,
            reference=data.get("id") if isinstance(data, dict) else None,
            kind=payload.get("type"),
        )

    def _signature(self, body: bytes, msg_id: str, timestamp: int) -> str:
        when = datetime.fromtimestamp(timestamp, tz=UTC)
        return self._webhook.sign(msg_id=msg_id, timestamp=when, data=body.decode())


class CheckrSignature:
    """Checkr's scheme: ``X-Checkr-Signature`` = hex HMAC-SHA256 of the raw body, keyed
    with the secret's bytes as given.

    There is no timestamp, so no replay window: a captured delivery verifies forever and
    only the inbox's dedupe on the delivery id (the event's ``id``) stops a replay.
    """

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the webhook secret may not be empty")
        self._key = secret.encode()

    def sign(self, body: bytes) -> dict[str, str]:
        return {"X-Checkr-Signature": hmac.new(self._key, body, hashlib.sha256).hexdigest()}

    def verify(self, headers: Mapping[str, str], body: bytes) -> WebhookNotice:
        given = _lower(headers).get("x-checkr-signature", "")
        expected = self.sign(body)["X-Checkr-Signature"]
        if not given.isascii() or not hmac.compare_digest(given.lower(), expected):
            raise WebhookRejected("no matching signature")
        payload = _json_object(body)
        data = payload.get("data")
        target = data.get("object", data) if isinstance(data, dict) else None
        delivery_id = payload.get("id") or hashlib.sha256(body).hexdigest()
        return _notice(
            delivery_id=delivery_id,
            reference=target.get("id") if isinstance(target, dict) else None,
            kind=payload.get("type"),
        )


def scheme_for(settings: Settings) -> StandardWebhooks | CheckrSignature:
    """The deployment's scheme (``BGCHECK_VENDOR_WEBHOOK_SCHEME``) with its secret."""
    if settings.vendor_webhook_secret is None:
        raise ValueError("BGCHECK_VENDOR_WEBHOOK_SECRET is not set")
    secret = settings.vendor_webhook_secret.get_secret_value()
    if settings.vendor_webhook_scheme == "checkr":
        return CheckrSignature(secret)
    return StandardWebhooks(secret)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    try:
        return {str(key).lower(): str(value) for key, value in headers.items()}
    except Exception:  # a caller's odd mapping must still end in a 401, not a 500
        raise WebhookRejected("unreadable headers") from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode())
    # UnicodeDecodeError and JSONDecodeError are ValueErrors; deep nesting recurses.
    except (ValueError, RecursionError):
        raise WebhookRejected("the body is not UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("the body is not a JSON object")
    return payload


def _notice(*, delivery_id: object, reference: object, kind: object) -> WebhookNotice:
    """Check the fields a signed body claims before anyone stores them."""
    if _short_text(delivery_id) and _short_text(kind):
        if reference is None:
            return WebhookNotice(delivery_id=delivery_id, reference=None, kind=kind)
        if _short_text(reference):
            return WebhookNotice(delivery_id=delivery_id, reference=reference, kind=kind)
    raise WebhookRejected("the delivery id, event type or order reference is malformed")


def _short_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_FIELD_LENGTH
