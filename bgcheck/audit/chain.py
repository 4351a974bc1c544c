"""The hash chain, as pure functions: what an event hashes to and how a chain is checked.

Each event's hash is SHA-256 over its predecessor's hash and the event's canonical JSON
(sorted keys, compact separators, times as UTC ISO-8601 with microseconds). The sequence
number is part of the hashed body, so reordering, deleting or inserting an event breaks
the chain at that place. Exports and offline verification reuse these functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

# The event fields that are hashed, in the order they are documented (JSON sorts them).
HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "data",
)
# Every stored column of an event, in the order exports write them.
STORED_FIELDS = (*HASHED_FIELDS, "prev_hash", "hash")


def format_time(moment: datetime) -> str:
    """UTC with exactly six fractional digits: PostgreSQL keeps no more, SQLite no less."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# What json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) does,
# without building an encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def event_body(event: Mapping[str, Any]) -> dict[str, Any]:
    body = {field: event[field] for field in HASHED_FIELDS}
    if isinstance(body["occurred_at"], datetime):
        body["occurred_at"] = format_time(body["occurred_at"])
    return body


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    payload = prev_hash + canonical_json(event_body(event))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of checking a chain: ``first_bad_seq`` is None when every link holds.

    The checkpoint fields are filled by ``bgcheck.audit.verification``: ``checkpoints``
    counts the checkpoints that matched the chain, ``signed_through`` is the highest
    sequence number vouched for by a verified signature (0: none), and
    ``signatures_checked`` says whether a public key was given at all.
    """

    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    reason: str | None = None
    checkpoints: int = 0
    signed_through: int = 0
    signatures_checked: bool = False

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify_events(
    events: Iterable[Mapping[str, Any]],
    *,
    start_seq: int = 1,
    start_hash: str = GENESIS_HASH,
) -> ChainReport:
    """Walk events in stored order; report the first one whose link does not hold.

    ``start_seq``/``start_hash`` let a partial export be checked from a known link.
    """
    expected_seq, prev_hash, checked = start_seq, start_hash, 0
    for event in events:
        reason = link_problem(event, expected_seq, prev_hash)
        if reason:
            return ChainReport(checked, expected_seq - 1, prev_hash, expected_seq, reason)
        expected_seq, prev_hash, checked = event["seq"] + 1, event["hash"], checked + 1
    return ChainReport(checked, expected_seq - 1, prev_hash, None)


def link_problem(event: Mapping[str, Any], expected_seq: int, prev_hash: str) -> str | None:
    """Why ``event`` cannot follow a link ending at ``expected_seq - 1``/``prev_hash``."""
    seq = event["seq"]
    if seq != expected_seq:
        return f"expected event {expected_seq}, found {seq}"
    if event["prev_hash"] != prev_hash:
        return "prev_hash does not match the preceding event"
    if event["hash"] != event_hash(prev_hash, event):
        return "hash does not match the event's content"
    recorded = event.get("canonical_data")  # absent from exports and older events
    if recorded is not None and recorded != canonical_json(event["data"]):
        return "data differs from the canonical text recorded with it"
    return None
