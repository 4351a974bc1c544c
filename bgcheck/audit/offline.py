"""Verifying a JSON Lines export with nothing but the file and the public key.

No database is involved: an auditor runs ``bgcheck audit verify --file export.jsonl
--public-key audit-key.pem`` on their own machine. The file is read line by line, so
memory stays constant.

What can be verified depends on what was exported:

- **A full export, or a time range** (``--since``/``--until``, a contiguous run of
  sequence numbers): the chain is recomputed from the first event. A full export starts at
  seq 1 from the genesis hash; a range starts from its first event's ``prev_hash``, which
  the checkpoint just before the range (exported with it) vouches for. Every checkpoint's
  signature is checked, and an event after seq N that was changed fails at the next
  checkpoint even if the hashes were recomputed. Events after the newest checkpoint are
  consistent but not signed yet: the report says how far the signatures reach. The
  header's seq range catches a file cut short.
- **An unsigned export**, whose events no valid checkpoint signs, is only consistent:
  anyone can write a consistent chain. The result is "not verifiable", never "ok".
- **A filtered export** (``--case``, ``--actor``, ``--type``) holds single events out of the
  chain, so the chain cannot be recomputed. Each line is still checked on its own (its
  hash against its content, a checkpoint's signature, and a checkpoint against the event
  it signs when that event is present), and the result is "not verifiable", never "ok".
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bgcheck.audit import signatures
from bgcheck.audit.chain import GENESIS_HASH, HASHED_FIELDS, ChainReport, event_hash
from bgcheck.audit.export import EXPORT_FORMAT
from bgcheck.audit.verification import CHECKPOINT_FIELDS, Item, describe, verify_items

Status = Literal["ok", "broken", "unverifiable"]
EXIT_CODES: dict[Status, int] = {"ok": 0, "broken": 1, "unverifiable": 3}


class MalformedExport(ValueError):
    """A line is not what ``bgcheck audit export --format jsonl`` writes."""


@dataclass(frozen=True, slots=True)
class OfflineReport:
    """The verdict on one export file, with a one-line ``summary`` for people."""

    status: Status
    summary: str
    chain: ChainReport | None = None
    filtered: bool = False

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def verify_export(
    lines: Iterable[str], *, public_keys: Iterable[Ed25519PublicKey]
) -> OfflineReport:
    """Check an exported JSONL file (as lines); see the module docstring for the rules."""
    keys = list(public_keys)
    records = _records(lines)
    try:
        first = next(records, None)
        header = first if first is not None and first[1].get("kind") == "export" else None
        body = records if header is not None else itertools.chain(_some(first), records)
        if header is not None:
            _check_header(header)
        if header is not None and header[1]["filtered"]:
            return _verify_filtered(_items(body), keys, header[1]["filters"])
        return _verify_chain(_items(body), keys, header[1] if header else None)
    except MalformedExport as exc:
        return OfflineReport("broken", f"broken: {exc}")


def _verify_chain(
    items: Iterator[Item], keys: list[Ed25519PublicKey], header: Mapping[str, Any] | None
) -> OfflineReport:
    # Only checkpoints (the range's anchor) may come before the first event.
    leading: list[Item] = []
    for item in items:
        leading.append(item)
        if item[0] == "event" or len(leading) > 2:
            break
    first_event = next((row for kind, row in leading if kind == "event"), None)
    start_seq = first_event["seq"] if first_event else _header_int(header, "seq_from", 1)
    start_hash = GENESIS_HASH
    if first_event is not None and start_seq > 1:
        start_hash = first_event["prev_hash"]
    elif first_event is None and leading:
        start_hash = leading[0][1]["hash"]  # no events: only the anchor's signature counts
    report = verify_items(
        itertools.chain(leading, items),
        public_keys=keys,
        start_seq=start_seq,
        start_hash=start_hash,
    )
    if not report.ok:
        return OfflineReport("broken", describe(report), report)
    if header is not None:
        announced = (header["seq_from"], header["seq_through"])
        count = max(0, announced[1] - announced[0] + 1)
        held = (start_seq, report.head_seq)
        if report.checked != count or (count and held != announced):
            bad = report.head_seq + 1 if held[0] == announced[0] else announced[0]
            reason = (
                f"the header announces seq {announced[0]} to {announced[1]}, the file holds "
                f"{report.checked} events from seq {start_seq} (cut short or edited)"
            )
            report = dataclasses.replace(report, first_bad_seq=bad, reason=reason)
            return OfflineReport("broken", describe(report), report)
    if report.checked and report.signed_through < start_seq:
        # Anyone can write a consistent chain; only a signature makes it evidence.
        return OfflineReport(
            "unverifiable",
            f"not verifiable: the {report.checked} events form a consistent chain, but no "
            "valid checkpoint signs any of them (sign one with `bgcheck audit checkpoint` "
            "and export again)",
            report,
        )
    return OfflineReport("ok", describe(report), report)


def _verify_filtered(
    items: Iterator[Item], keys: list[Ed25519PublicKey], filters: Mapping[str, Any]
) -> OfflineReport:
    by_id = signatures.keys_by_id(keys)
    events = valid_signatures = 0
    last: Mapping[str, Any] | None = None
    for kind, row in items:
        seq = row["seq"]
        if kind == "event":
            if last is not None and seq <= last["seq"]:
                return OfflineReport("broken", f"broken at seq {seq}: events out of order")
            if row["hash"] != event_hash(row["prev_hash"], row):
                return OfflineReport(
                    "broken", f"broken at seq {seq}: hash does not match the event's content"
                )
            events, last = events + 1, row
            continue
        key = by_id.get(row["key_id"])
        if key is None or not signatures.is_valid(
            key, seq, row["hash"], row["signed_at"], row["signature"]
        ):
            return OfflineReport(
                "broken", f"broken at seq {seq}: the checkpoint has an invalid signature"
            )
        if last is not None and last["seq"] == seq and last["hash"] != row["hash"]:
            return OfflineReport(
                "broken", f"broken at seq {seq}: event {seq} does not match its checkpoint"
            )
        valid_signatures += 1
    picked = ", ".join(f"{name}={value}" for name, value in filters.items() if value)
    return OfflineReport(
        "unverifiable",
        f"not verifiable as a chain: a filtered export ({picked}); each of its {events} "
        f"events matches its own hash and {valid_signatures} checkpoint signatures are "
        "valid; export a full or time-range export to verify the chain",
        filtered=True,
    )


def _some(record: tuple[int, dict[str, Any]] | None) -> list[tuple[int, dict[str, Any]]]:
    return [record] if record is not None else []


def _header_int(header: Mapping[str, Any] | None, name: str, default: int) -> int:
    return header[name] if header is not None else default


def _records(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise MalformedExport(f"line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise MalformedExport(f"line {number} is not a JSON object")
        yield number, record


def _check_header(header: tuple[int, dict[str, Any]]) -> None:
    number, record = header
    if record.get("format") != EXPORT_FORMAT or not isinstance(record.get("filters"), dict):
        raise MalformedExport(f"line {number} is not a bgcheck audit export header")
    for name in ("seq_from", "seq_through"):
        if not _is_int(record.get(name)):
            raise MalformedExport(f"line {number}: the header's {name} is not a number")
    if not isinstance(record.get("filtered"), bool):
        raise MalformedExport(f"line {number}: the header's 'filtered' is not true or false")


def _items(records: Iterable[tuple[int, dict[str, Any]]]) -> Iterator[Item]:
    """Events and checkpoints, with their fields' types checked before any hashing."""
    for number, record in records:
        kind = record.get("kind")
        if kind == "event":
            fields: tuple[str, ...] = (*HASHED_FIELDS, "prev_hash", "hash")
        elif kind == "checkpoint":
            fields = CHECKPOINT_FIELDS
        else:
            raise MalformedExport(f"line {number} is neither an event nor a checkpoint")
        missing = [name for name in fields if name not in record]
        if missing:
            raise MalformedExport(f"line {number} lacks {', '.join(missing)}")
        if not _is_int(record["seq"]):
            raise MalformedExport(f"line {number}: seq is not a number")
        if any(not isinstance(record[name], str) for name in _TEXT_FIELDS[kind]):
            raise MalformedExport(f"line {number}: a hash, time or signature is not text")
        yield kind, record


_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "event": ("occurred_at", "prev_hash", "hash"),
    "checkpoint": ("hash", "signed_at", "key_id", "signature"),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
