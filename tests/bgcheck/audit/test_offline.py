"""Offline verification of a JSONL export: the file and the public key, no database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from bgcheck import audit
from bgcheck.audit import checkpoints
from bgcheck.audit import export as exports
from bgcheck.audit.chain import event_hash
from bgcheck.audit.offline import verify_export
from bgcheck.models import utcnow

ACTOR = audit.AuditActor.system("tests")


def export_lines(session: Session, **filters: Any) -> list[str]:
    chunks = exports.export(session, ACTOR, fmt="jsonl", filters=exports.ExportFilters(**filters))
    return "".join(chunks).splitlines(keepends=True)


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def dump(items: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(item, sort_keys=True, separators=(",", ":")) + "\n" for item in items]


@pytest.fixture
def trail(db: Session, signing_key: Ed25519PrivateKey) -> Session:
    """Twelve events with checkpoints after the 4th, the 8th and the 12th."""
    start = utcnow() + timedelta(days=3)
    for index in range(12):
        audit.record(
            db,
            audit.AuditActor("user", f"user-{index % 2}"),
            action="case.viewed",
            target=audit.Target.of("case", f"case-{index % 3}"),
            data={"n": index},
            now=start + timedelta(minutes=index),
        )
        if index % 4 == 3:
            checkpoints.sign_checkpoint(db, signing_key, start + timedelta(minutes=index))
    return db


@pytest.fixture
def keys(signing_key: Ed25519PrivateKey) -> list[Any]:
    return [signing_key.public_key()]


def event_positions(items: list[dict[str, Any]]) -> list[int]:
    return [i for i, item in enumerate(items) if item["kind"] == "event"]


def test_a_full_export_round_trips(trail: Session, keys: list[Any]) -> None:
    report = verify_export(export_lines(trail), public_keys=keys)
    assert report.status == "ok", report.summary
    assert report.exit_code == 0
    assert "every event covered by a valid signature" in report.summary
    assert report.chain is not None
    assert report.chain.checkpoints >= 3


def test_a_tampered_line_is_caught_at_its_seq(trail: Session, keys: list[Any]) -> None:
    items = records(export_lines(trail))
    victim = event_positions(items)[-5]
    items[victim]["action"] = "case.cleared"
    report = verify_export(dump(items), public_keys=keys)
    assert report.status == "broken"
    assert report.exit_code == 1
    assert report.summary.startswith(f"broken at seq {items[victim]['seq']}:")


def test_a_rewrite_with_recomputed_hashes_fails_at_the_next_checkpoint(
    trail: Session, keys: list[Any]
) -> None:
    items = records(export_lines(trail))
    positions = event_positions(items)
    victim = positions[-6]  # the 7th of the 12: the checkpoint after the 8th catches it
    items[victim]["action"] = "case.cleared"
    prev = items[victim]["prev_hash"]
    for position in (p for p in positions if p >= victim):
        items[position]["prev_hash"] = prev
        items[position]["hash"] = prev = event_hash(prev, items[position])
    report = verify_export(dump(items), public_keys=keys)
    assert report.status == "broken"
    assert report.chain is not None
    assert report.chain.first_bad_seq == items[victim]["seq"] + 1
    assert "changed and the chain recomputed" in report.summary


def test_a_forged_checkpoint_is_caught(trail: Session, keys: list[Any]) -> None:
    items = records(export_lines(trail))
    position = next(i for i, item in enumerate(items) if item["kind"] == "checkpoint")
    forger = Ed25519PrivateKey.generate()
    checkpoint = items[position]
    checkpoint["signature"] = forger.sign(b"anything").hex()
    report = verify_export(dump(items), public_keys=keys)
    assert report.summary == (
        f"broken at seq {checkpoint['seq']}: the checkpoint at seq {checkpoint['seq']} "
        "has an invalid signature"
    )
    assert verify_export(export_lines(trail), public_keys=[forger.public_key()]).status == (
        "broken"
    )


def test_a_removed_line_and_a_cut_short_file_are_caught(trail: Session, keys: list[Any]) -> None:
    lines = export_lines(trail)
    positions = event_positions(records(lines))
    removed = records(lines)[positions[3]]["seq"]
    without = lines[: positions[3]] + lines[positions[3] + 1 :]
    assert verify_export(without, public_keys=keys).summary.startswith(f"broken at seq {removed}:")
    cut = lines[: positions[-2]]  # the newest events and the last checkpoint gone
    report = verify_export(cut, public_keys=keys)
    assert report.status == "broken"
    assert "cut short" in report.summary


def test_a_time_range_verifies_from_its_anchor_checkpoint(trail: Session, keys: list[Any]) -> None:
    items = records(export_lines(trail))
    events = [items[p] for p in event_positions(items)]
    fifth, tenth = events[-8], events[-3]  # right after the checkpoint on the 4th event
    lines = export_lines(
        trail,
        since=datetime.fromisoformat(fifth["occurred_at"]),
        until=datetime.fromisoformat(tenth["occurred_at"]),
    )
    ranged = records(lines)
    assert ranged[0]["filtered"] is False
    assert ranged[1]["kind"] == "checkpoint"  # the anchor
    assert ranged[1]["seq"] == fifth["seq"] - 1
    report = verify_export(lines, public_keys=keys)
    assert report.status == "ok", report.summary
    assert report.chain is not None
    assert report.chain.signed_through == fifth["seq"] + 3  # the checkpoint on the 8th


def test_a_filtered_export_is_not_verifiable_but_its_lines_are_checked(
    trail: Session, keys: list[Any]
) -> None:
    lines = export_lines(trail, case_id="case-1")
    report = verify_export(lines, public_keys=keys)
    assert report.status == "unverifiable"
    assert report.exit_code == 3
    assert "case_id=case-1" in report.summary
    items = records(lines)
    items[event_positions(items)[0]]["data"] = {"n": 99}
    assert verify_export(dump(items), public_keys=keys).status == "broken"


def test_a_file_without_its_header_is_checked_as_a_chain(trail: Session, keys: list[Any]) -> None:
    lines = export_lines(trail)
    assert verify_export(lines[1:], public_keys=keys).status == "ok"


@pytest.mark.parametrize(
    "line",
    ['{"kind": "event", "seq": 1}\n', "not json\n", "[1, 2]\n", '{"kind": "other"}\n'],
)
def test_a_malformed_line_is_reported_not_raised(line: str, keys: list[Any]) -> None:
    report = verify_export([line], public_keys=keys)
    assert report.status == "broken"
    assert "line 1" in report.summary


def test_an_export_no_checkpoint_signs_is_not_verifiable(db: Session, keys: list[Any]) -> None:
    for index in range(3):
        audit.record(db, ACTOR, action="case.viewed", data={"n": index})
    report = verify_export(export_lines(db), public_keys=keys)
    assert report.status == "unverifiable", report.summary
    assert report.exit_code == 3
    assert "no valid checkpoint signs any of them" in report.summary
