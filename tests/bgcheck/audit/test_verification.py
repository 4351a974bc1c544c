"""The pure walk over events and checkpoints: what checkpoints catch that a chain cannot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from bgcheck.audit import signatures
from bgcheck.audit.chain import GENESIS_HASH, event_hash
from bgcheck.audit.verification import describe, merge, verify_items

KEY = Ed25519PrivateKey.generate()
PUBLIC = [KEY.public_key()]
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def build(count: int) -> list[dict[str, Any]]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        event = {
            "seq": seq,
            "occurred_at": START + timedelta(seconds=seq),
            "actor_kind": "user",
            "actor_id": f"user-{seq % 3}",
            "action": "case.viewed",
            "target_type": "case",
            "target_id": f"case-{seq % 4}",
            "request_id": None,
            "data": {"n": seq},
            "prev_hash": prev,
        }
        event["hash"] = prev = event_hash(prev, event)
        events.append(event)
    return events


def checkpoint(event: dict[str, Any], key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    moment = START + timedelta(days=1, seconds=event["seq"])
    return {
        "seq": event["seq"],
        "hash": event["hash"],
        "signed_at": moment,
        "key_id": signatures.key_id(key.public_key()),
        "signature": signatures.sign(key, event["seq"], event["hash"], moment),
    }


def rehash_from(events: list[dict[str, Any]], index: int) -> None:
    """What an attacker with write access does: change one event, recompute the rest."""
    events[index] = {**events[index], "action": "case.forged"}
    prev = events[index]["prev_hash"]
    for i in range(index, len(events)):
        events[i] = {**events[i], "prev_hash": prev}
        events[i]["hash"] = prev = event_hash(prev, events[i])


def test_merge_puts_each_checkpoint_after_its_event() -> None:
    events = build(4)
    stream = merge(events, [checkpoint(events[1]), checkpoint(events[3])])
    assert [(kind, row["seq"]) for kind, row in stream] == [
        ("event", 1),
        ("event", 2),
        ("checkpoint", 2),
        ("event", 3),
        ("event", 4),
        ("checkpoint", 4),
    ]


def test_a_clean_chain_reports_how_far_signatures_reach() -> None:
    events = build(6)
    report = verify_items(merge(events, [checkpoint(events[3])]), public_keys=PUBLIC)
    assert report.ok
    assert (report.checked, report.checkpoints, report.signed_through) == (6, 1, 4)
    assert describe(report) == (
        "ok: 6 events (seq 1 to 6), 1 checkpoint, signatures valid through seq 4; "
        "events 5 to 6 are not signed yet"
    )


@given(st.integers(3, 20), st.data())
def test_a_recomputed_rewrite_fails_at_the_next_checkpoint(count: int, data: st.DataObject) -> None:
    events = build(count)
    signed_at = sorted(data.draw(st.sets(st.integers(1, count), min_size=1)))
    signed = [checkpoint(events[seq - 1]) for seq in signed_at]
    victim = data.draw(st.integers(1, signed_at[-1]))
    rehash_from(events, victim - 1)
    expected = next(seq for seq in signed_at if seq >= victim)
    report = verify_items(merge(events, signed), public_keys=PUBLIC)
    assert report.first_bad_seq == expected
    assert "changed and the chain recomputed" in (report.reason or "")


def test_removed_newest_events_leave_a_checkpoint_without_its_event() -> None:
    events = build(5)
    signed = [checkpoint(events[4])]
    report = verify_items(merge(events[:3], signed), public_keys=PUBLIC)
    assert report.first_bad_seq == 4
    assert "missing" in (report.reason or "")


def test_a_forged_or_foreign_checkpoint_fails_at_its_seq() -> None:
    events = build(5)
    forged = {**checkpoint(events[2]), "signature": "00" * 64}
    assert verify_items(merge(events, [forged]), public_keys=PUBLIC).first_bad_seq == 3
    foreign = checkpoint(events[2], key=Ed25519PrivateKey.generate())
    report = verify_items(merge(events, [foreign]), public_keys=PUBLIC)
    assert report.first_bad_seq == 3
    assert "unknown signing key" in (report.reason or "")


def test_without_a_key_checkpoints_are_matched_but_not_checked() -> None:
    events = build(3)
    forged = {**checkpoint(events[2]), "signature": "00" * 64}
    report = verify_items(merge(events, [forged]))
    assert report.ok
    assert not report.signatures_checked
    assert "signatures not checked" in describe(report)


def test_a_range_starts_from_its_anchor_checkpoint() -> None:
    events = build(8)
    anchor, later = checkpoint(events[3]), checkpoint(events[6])
    report = verify_items(
        merge(events[4:], [anchor, later]),
        public_keys=PUBLIC,
        start_seq=5,
        start_hash=events[4]["prev_hash"],
    )
    assert report.ok
    assert (report.checked, report.checkpoints, report.signed_through) == (4, 2, 7)
