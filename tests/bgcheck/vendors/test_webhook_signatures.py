"""Webhook signatures: a correctly signed delivery verifies; anything else is rejected,
and rejected only ever as ``WebhookRejected``."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from bgcheck.platform.settings import load_settings
from bgcheck.vendors.base import WebhookNotice, WebhookRejected
from bgcheck.vendors.signatures import (
    TOLERANCE_SECONDS,
    CheckrSignature,
    StandardWebhooks,
    scheme_for,
)

SECRET = "whsec_" + base64.b64encode(b"bgcheck-test-webhook-secret-0123").decode()
NOW = 1_800_000_000
BODY = json.dumps(
    {
        "type": "order.completed",
        "data": {"id": "ord_1", "external_id": "case-1", "status": "complete"},
    }
).encode()
HEADER_NAMES = ("webhook-id", "webhook-timestamp", "webhook-signature")


def standard(now: float = NOW, secret: str = SECRET) -> StandardWebhooks:
    return StandardWebhooks(secret, clock=lambda: now)


def signed(body: bytes = BODY, *, msg_id: str = "msg_1", at: int = NOW) -> dict[str, str]:
    return standard().sign(body, msg_id=msg_id, timestamp=at)


def flip_char(text: str, index: int, replacement: str) -> str:
    index %= len(text)
    assume(text[index] != replacement)
    return text[:index] + replacement + text[index + 1 :]


def assert_rejected(
    scheme: StandardWebhooks | CheckrSignature, headers: Mapping[str, str], body: bytes
) -> None:
    with pytest.raises(WebhookRejected):
        scheme.verify(headers, body)


# ---------------------------------------------------------------------------- Standard


def test_a_signed_webhook_verifies_and_names_its_order() -> None:
    notice = standard().verify(signed(), BODY)

    assert notice == WebhookNotice(delivery_id="msg_1", reference="ord_1", kind="order.completed")


def test_header_names_are_case_insensitive() -> None:
    headers = {name.title(): value for name, value in signed().items()}

    assert standard().verify(headers, BODY).delivery_id == "msg_1"


def test_one_matching_signature_among_several_is_enough() -> None:
    """A vendor rotating its secret sends a signature for each."""
    old = StandardWebhooks("whsec_" + base64.b64encode(b"old" * 8).decode(), clock=lambda: NOW)
    headers = signed()
    old_signature = old.sign(BODY, msg_id="msg_1", timestamp=NOW)["webhook-signature"]
    headers["webhook-signature"] = f"{old_signature} {headers['webhook-signature']}"

    assert standard().verify(headers, BODY).reference == "ord_1"


def test_the_package_and_we_agree_on_signatures() -> None:
    """Interoperability: a Standard Webhooks library on the other side verifies ours."""
    headers = StandardWebhooks(SECRET).sign(BODY, msg_id="msg_1")  # the real clock

    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)


def test_a_wrong_secret_is_rejected() -> None:
    other = "whsec_" + base64.b64encode(b"someone-else-entirely-0123456789").decode()

    assert_rejected(standard(secret=other), signed(), BODY)


@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_any_changed_body_byte_is_rejected(index: int, mask: int) -> None:
    body = bytearray(BODY)
    body[index % len(body)] ^= mask

    assert_rejected(standard(), signed(), bytes(body))


@given(
    header=st.sampled_from(HEADER_NAMES),
    index=st.integers(min_value=0),
    replacement=st.characters(),
)
def test_any_changed_header_character_is_rejected(
    header: str, index: int, replacement: str
) -> None:
    headers = signed()
    headers[header] = flip_char(headers[header], index, replacement)

    assert_rejected(standard(), headers, BODY)


@given(extra=st.sampled_from([".0", ".9", "0", " ", "e0"]))
def test_a_timestamp_must_be_written_as_the_signed_digits(extra: str) -> None:
    headers = signed()
    headers["webhook-timestamp"] += extra

    assert_rejected(standard(), headers, BODY)


def test_a_signature_with_its_spare_base64_bits_changed_is_rejected() -> None:
    """The same MAC bytes, written differently: only the canonical form is accepted."""
    headers = signed()
    version, encoded = headers["webhook-signature"].split(",")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(encoded[-2]) ^ 1]  # 32 bytes: the last 2 bits are spare
    headers["webhook-signature"] = f"{version},{encoded[:-2]}{last}="
    assert base64.b64decode(headers["webhook-signature"][3:]) == base64.b64decode(encoded)

    assert_rejected(standard(), headers, BODY)


@given(age=st.integers(min_value=TOLERANCE_SECONDS + 1, max_value=10**9))
def test_a_stale_or_future_timestamp_is_rejected(age: int) -> None:
    assert_rejected(standard(), signed(at=NOW - age), BODY)
    assert_rejected(standard(), signed(at=NOW + age), BODY)


@given(skew=st.integers(min_value=-TOLERANCE_SECONDS, max_value=TOLERANCE_SECONDS))
def test_a_timestamp_within_five_minutes_verifies(skew: int) -> None:
    assert standard().verify(signed(at=NOW + skew), BODY).delivery_id == "msg_1"


@given(
    headers=st.dictionaries(
        st.sampled_from(HEADER_NAMES) | st.text(max_size=20), st.text(max_size=80), max_size=5
    ),
    body=st.binary(max_size=200) | st.just(BODY),
)
def test_garbage_is_only_ever_rejected(headers: dict[str, str], body: bytes) -> None:
    assert_rejected(standard(), headers, body)


@given(
    header=st.sampled_from(HEADER_NAMES),
    value=st.text(max_size=80) | st.sampled_from(["v1", "v1,", "v1,%%%", ",,", "1e9", "nan"]),
)
def test_one_garbage_header_among_good_ones_is_rejected(header: str, value: str) -> None:
    headers = signed()
    assume(headers[header] != value)
    headers[header] = value

    assert_rejected(standard(), headers, BODY)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"data": {"id": "ord_1"}}', b'{"type": 7}', b'{"type": ""}'],
    ids=["not-json", "not-an-object", "no-type", "type-not-text", "empty-type"],
)
def test_a_signed_body_without_an_event_is_rejected(body: bytes) -> None:
    assert_rejected(standard(), signed(body), body)


def test_a_body_that_names_no_order_has_no_reference() -> None:
    body = b'{"type": "account.updated", "data": {}}'

    assert standard().verify(signed(body), body).reference is None


def test_a_body_that_is_not_utf8_is_rejected() -> None:
    assert_rejected(standard(), signed(), b"\xff\xfe" + BODY)


def test_a_secret_that_is_not_base64_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        StandardWebhooks("whsec_")


# ---------------------------------------------------------------------------- Checkr

CHECKR_SECRET = "checkr-api-key-0123456789"
CHECKR_BODY = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "report.completed",
        "created_at": "2026-01-05T09:00:00Z",
        "data": {"object": {"id": "rep_1", "object": "report", "status": "clear"}},
    }
).encode()


def checkr() -> CheckrSignature:
    return CheckrSignature(CHECKR_SECRET)


def test_a_checkr_webhook_verifies_and_names_its_report() -> None:
    notice = checkr().verify(checkr().sign(CHECKR_BODY), CHECKR_BODY)

    assert notice == WebhookNotice(delivery_id="evt_1", reference="rep_1", kind="report.completed")


def test_a_checkr_body_without_an_id_is_identified_by_its_hash() -> None:
    body = b'{"type": "report.completed", "data": {"object": {"id": "rep_1"}}}'

    notice = checkr().verify(checkr().sign(body), body)

    assert notice.delivery_id == hashlib.sha256(body).hexdigest()


def test_a_checkr_signature_verifies_forever() -> None:
    """No timestamp: documented; only the inbox's dedupe stops a replay."""
    headers = checkr().sign(CHECKR_BODY)

    assert checkr().verify(headers, CHECKR_BODY).delivery_id == "evt_1"


@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_any_changed_checkr_body_byte_is_rejected(index: int, mask: int) -> None:
    body = bytearray(CHECKR_BODY)
    body[index % len(body)] ^= mask

    assert_rejected(checkr(), checkr().sign(CHECKR_BODY), bytes(body))


@given(index=st.integers(min_value=0), replacement=st.characters())
def test_any_changed_checkr_signature_character_is_rejected(index: int, replacement: str) -> None:
    headers = checkr().sign(CHECKR_BODY)
    signature = headers["X-Checkr-Signature"]
    assume(replacement.lower() != signature[index % len(signature)])
    headers["X-Checkr-Signature"] = flip_char(signature, index, replacement)

    assert_rejected(checkr(), headers, CHECKR_BODY)


@given(
    headers=st.dictionaries(
        st.just("X-Checkr-Signature") | st.text(max_size=20), st.text(max_size=80), max_size=3
    ),
    body=st.binary(max_size=200) | st.just(CHECKR_BODY),
)
def test_checkr_garbage_is_only_ever_rejected(headers: dict[str, str], body: bytes) -> None:
    assert_rejected(checkr(), headers, body)


def test_a_checkr_signed_body_that_is_not_json_is_rejected() -> None:
    assert_rejected(checkr(), checkr().sign(b"\xff not json"), b"\xff not json")


# ---------------------------------------------------------------------------- choosing


def test_the_setting_picks_the_scheme() -> None:
    assert isinstance(scheme_for(load_settings(vendor_webhook_secret=SECRET)), StandardWebhooks)
    checkr_settings = load_settings(
        vendor_webhook_secret=CHECKR_SECRET, vendor_webhook_scheme="checkr"
    )
    assert isinstance(scheme_for(checkr_settings), CheckrSignature)


def test_no_secret_no_scheme() -> None:
    with pytest.raises(ValueError, match="BGCHECK_VENDOR_WEBHOOK_SECRET"):
        scheme_for(load_settings(vendor_webhook_secret=None))


def test_the_timestamp_is_whole_unix_seconds() -> None:
    headers = StandardWebhooks(SECRET, clock=lambda: NOW + 0.75).sign(BODY, msg_id="m")

    assert headers["webhook-timestamp"] == str(NOW)
