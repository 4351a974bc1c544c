"""Checking a chain together with its signed checkpoints, as pure functions.

One walk serves the database (``bgcheck.audit.verify``) and an exported file
(``bgcheck.audit.offline``): both hand over a single stream of items in sequence order,
each checkpoint right after the event it signs (``merge``). The hash chain alone catches
any single change, deletion, insertion or reordering at its own sequence number; the
checkpoints add what a chain cannot show by itself:

- a rewrite that recomputed every later hash (and the chain head) no longer matches the
  next signed checkpoint, which is reported at that checkpoint's sequence number;
- removed newest events leave a checkpoint that signs an event that is not there;
- a forged or altered checkpoint fails its Ed25519 signature.

Events after the newest checkpoint are consistent but not yet vouched for by a signature;
``ChainReport.signed_through`` says how far the signatures reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bgcheck.audit import signatures
from bgcheck.audit.chain import GENESIS_HASH, ChainReport, link_problem

Kind = Literal["event", "checkpoint"]
Item = tuple[Kind, Mapping[str, Any]]

CHECKPOINT_FIELDS = ("seq", "hash", "signed_at", "key_id", "signature")


def merge(
    events: Iterable[Mapping[str, Any]], checkpoints: Iterable[Mapping[str, Any]]
) -> Iterator[Item]:
    """Both streams (each in sequence order) as one: a checkpoint follows its event.

    A checkpoint with no event at its sequence number comes where that event would be,
    so the walk reports it at the right place.
    """
    pending = iter(checkpoints)
    checkpoint = next(pending, None)
    for event in events:
        while checkpoint is not None and checkpoint["seq"] < event["seq"]:
            yield "checkpoint", checkpoint
            checkpoint = next(pending, None)
        yield "event", event
        while checkpoint is not None and checkpoint["seq"] == event["seq"]:
            yield "checkpoint", checkpoint
            checkpoint = next(pending, None)
    while checkpoint is not None:
        yield "checkpoint", checkpoint
        checkpoint = next(pending, None)


def verify_items(
    items: Iterable[Item],
    *,
    public_keys: Iterable[Ed25519PublicKey] = (),
    start_seq: int = 1,
    start_hash: str = GENESIS_HASH,
) -> ChainReport:
    """Walk events and checkpoints; report the first sequence number that fails, and why.

    Without public keys the checkpoints are still matched against the chain, but their
    signatures are not checked (``signatures_checked`` is False). ``start_seq`` and
    ``start_hash`` begin the walk after a known link: a checkpoint at ``start_seq - 1``
    (the anchor left by archiving, or by a range export) is checked against it.
    """
    keys = signatures.keys_by_id(public_keys)
    walk = _Walk(expected_seq=start_seq, prev_hash=start_hash, vouched=start_seq - 1)
    for kind, item in items:
        problem = walk.event(item) if kind == "event" else walk.checkpoint(item, keys)
        if problem is not None:
            bad_seq, reason = problem
            return walk.report(bad_seq, reason, signed=bool(keys))
    return walk.report(None, None, signed=bool(keys))


class _Walk:
    """The state of one walk: the link to extend and what the checkpoints vouched for."""

    def __init__(self, *, expected_seq: int, prev_hash: str, vouched: int) -> None:
        self.expected_seq = expected_seq
        self.prev_hash = prev_hash
        self.vouched = vouched
        self.checked = 0
        self.checkpoints = 0
        self.signed_through = 0

    def event(self, event: Mapping[str, Any]) -> tuple[int, str] | None:
        reason = link_problem(event, self.expected_seq, self.prev_hash)
        if reason:
            return self.expected_seq, reason
        self.expected_seq, self.prev_hash = event["seq"] + 1, event["hash"]
        self.checked += 1
        return None

    def checkpoint(
        self, checkpoint: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]
    ) -> tuple[int, str] | None:
        seq, last = checkpoint["seq"], self.expected_seq - 1
        if seq > last:
            return self.expected_seq, (
                f"the checkpoint at seq {seq} signs an event that is missing "
                f"(events from seq {self.expected_seq} on were removed or are out of order)"
            )
        if seq < last:
            return seq, f"the checkpoint at seq {seq} is out of place (after event {last})"
        if keys:
            key = keys.get(checkpoint["key_id"])
            if key is None:
                return seq, f"the checkpoint at seq {seq} names an unknown signing key"
            if not signatures.is_valid(
                key, seq, checkpoint["hash"], checkpoint["signed_at"], checkpoint["signature"]
            ):
                return seq, f"the checkpoint at seq {seq} has an invalid signature"
        if checkpoint["hash"] != self.prev_hash:
            return seq, (
                f"event {seq} does not match its signed checkpoint: an event after seq "
                f"{self.vouched} was changed and the chain recomputed"
            )
        self.checkpoints += 1
        self.vouched = seq
        if keys:
            self.signed_through = seq
        return None

    def report(self, bad_seq: int | None, reason: str | None, *, signed: bool) -> ChainReport:
        return ChainReport(
            checked=self.checked,
            head_seq=self.expected_seq - 1,
            head_hash=self.prev_hash,
            first_bad_seq=bad_seq,
            reason=reason,
            checkpoints=self.checkpoints,
            signed_through=self.signed_through,
            signatures_checked=signed,
        )


def describe(report: ChainReport) -> str:
    """One line for people: ``ok: …`` or ``broken at seq N: why``."""
    if not report.ok:
        return f"broken at seq {report.first_bad_seq}: {report.reason}"
    if report.checked == 0:
        return f"ok: no events to check, {counted(report.checkpoints, 'checkpoint')}"
    first = report.head_seq - report.checked + 1
    text = (
        f"ok: {counted(report.checked, 'event')} (seq {first} to {report.head_seq}), "
        f"{counted(report.checkpoints, 'checkpoint')}"
    )
    if not report.signatures_checked:
        return text + "; signatures not checked (no public key given)"
    if report.signed_through >= report.head_seq:
        return text + ", every event covered by a valid signature"
    if report.signed_through < first:
        return text + "; no event is covered by a signature yet"
    return (
        text + f", signatures valid through seq {report.signed_through}; "
        f"events {report.signed_through + 1} to {report.head_seq} are not signed yet"
    )


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
