"""Recording audit events in the same transaction as the change they describe.

Appends are serialized through the one-row ``audit_chain_head`` table, locked with
``SELECT … FOR UPDATE`` on PostgreSQL (SQLite writers are already serialized by
``BEGIN IMMEDIATE``). Locking the newest event row would not work: a second writer
waiting on it would then read a stale head and fork the chain.

``verify`` checks the stored chain, its signed checkpoints and the chain head together
(the walk itself is pure: ``bgcheck.audit.verification``).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, cast

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, col, select

from bgcheck.audit.chain import GENESIS_HASH, ChainReport, canonical_json, event_hash
from bgcheck.audit.verification import merge, verify_items
from bgcheck.crypto.keyring import Keyring
from bgcheck.models import AuditChainHead, AuditCheckpoint, AuditEvent, table_of, utcnow

ActorKind = Literal["user", "candidate", "vendor", "system"]

# Written by ``bgcheck audit record-archive`` before old events are removed (docs/audit.md).
ARCHIVED_ACTION: Final = "audit.archived"

# Audit data is PII-free by contract; this catches the most damaging slip early.
# The same shapes the log redaction catches: 123-45-6789, 123 45 6789, 123456789.
_SSN_LIKE: Final = re.compile(r"(?<!\d)\d{3}[- ]?\d{2}[- ]?\d{4}(?!\d)")
# Ids and digests are not PII, but about one random UUID in 40 and one SHA-256 hex digest
# in 9 look SSN-shaped ("a123456789b", "…e123-45-6789…"): they are set aside first.
_NOT_PII: Final = re.compile(
    r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
    r"|(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])"  # digests, dashless UUIDs
)


class AuditDataError(ValueError):
    """The data dict holds something the audit trail must not keep."""


@dataclass(frozen=True, slots=True)
class AuditActor:
    """Who did it: a staff user (by id), a candidate (by case), a vendor, or the system."""

    kind: ActorKind
    id: str | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID) -> AuditActor:
        return cls("user", str(user_id))

    @classmethod
    def system(cls, name: str = "bgcheck") -> AuditActor:
        return cls("system", name)


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    id: str

    @classmethod
    def of(cls, type_: str, id_: uuid.UUID | str) -> Target:
        return cls(type_, str(id_))


def record(
    session: Session,
    actor: AuditActor,
    *,
    action: str,
    target: Target | None = None,
    data: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one event; it commits (or rolls back) with the caller's transaction."""
    clean = checked_data(data or {})
    head = lock_head(session)
    event = AuditEvent(
        seq=head.seq + 1,
        occurred_at=now or utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target_type=target.type if target else None,
        target_id=target.id if target else None,
        request_id=request_id,
        data=clean,
        canonical_data=canonical_json(clean),
        prev_hash=head.hash,
        hash="",
    )
    event.hash = event_hash(head.hash, event.model_dump())
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event


def lock_head(session: Session) -> AuditChainHead:
    """The chain head, locked until the transaction ends: appends and checkpoints queue here."""
    statement = select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
    head = session.exec(statement).one_or_none()
    if head is None:
        # The migration inserts the head row; this covers a database made from metadata.
        head = AuditChainHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    return head


def checked_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Only JSON strings, integers, booleans, None, lists and dicts; nothing SSN-shaped.

    Floats are refused because their JSON text is not canonical across databases.
    """

    def check_mapping(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
        return {check(str(k), f"{path} key"): check(v, f"{path}.{k}") for k, v in value.items()}

    def check(value: Any, path: str) -> Any:
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, str):
            if _SSN_LIKE.search(_NOT_PII.sub("-", value)):
                raise AuditDataError(f"audit data {path} looks like an SSN")
            if "\x00" in value:  # PostgreSQL's JSONB cannot hold it; SQLite would
                raise AuditDataError(f"audit data {path} holds a NUL character")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:  # a lone surrogate: not text anyone could read
                    raise AuditDataError(f"audit data {path} is not valid Unicode") from None
            return value
        if isinstance(value, list | tuple):
            return [check(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, Mapping):
            return check_mapping(value, path)
        raise AuditDataError(f"audit data {path} has unsupported type {type(value).__name__}")

    return check_mapping(data, "data")


def iter_events(
    session: Session, *, after: int = 0, through: int | None = None, batch: int = 1000
) -> Iterator[Mapping[str, Any]]:
    """Events with ``after < seq <= through`` as plain mappings, in sequence order.

    Fetched in keyset batches, as rows rather than ORM objects: the session's identity
    map would otherwise grow with the trail.
    """
    table = table_of(AuditEvent)
    yield from _keyset(session, table, after=after, through=through, batch=batch)


def iter_checkpoints(
    session: Session, *, after: int = 0, through: int | None = None, batch: int = 1000
) -> Iterator[Mapping[str, Any]]:
    """Checkpoints with ``after < seq <= through``, in sequence order, like ``iter_events``."""
    table = table_of(AuditCheckpoint)
    yield from _keyset(session, table, after=after, through=through, batch=batch)


def _keyset(
    session: Session, table: sa.Table, *, after: int, through: int | None, batch: int
) -> Iterator[Mapping[str, Any]]:
    last = after
    while True:
        statement = sa.select(table).where(table.c.seq > last)
        if through is not None:
            statement = statement.where(table.c.seq <= through)
        rows = session.execute(statement.order_by(table.c.seq).limit(batch)).mappings().all()
        if not rows:
            return
        # RowMapping is typed Mapping[str | Column, Any], and Mapping's key type is invariant:
        # mypy will not take it as Mapping[str, Any], though every lookup here is by name.
        yield from cast(Sequence[Mapping[str, Any]], rows)
        last = rows[-1]["seq"]


def verify_signed(session: Session, keyring: Keyring) -> ChainReport:
    """``verify`` with the keyring's audit key: every checkpoint signature checked too."""
    return verify(session, public_keys=[keyring.audit_signing_key().public_key()])


def verify(session: Session, *, public_keys: Iterable[Ed25519PublicKey] = ()) -> ChainReport:
    """Recompute the stored chain, check every checkpoint, and compare the chain head.

    With ``public_keys`` (the keyring's audit key: ``[keyring.audit_signing_key()
    .public_key()]``) every checkpoint signature is checked too; without, checkpoints are
    only matched against the chain. The report names the first bad sequence number.

    After archiving, the oldest events are gone. The rest must then start right after a
    checkpoint (the anchor the archive procedure keeps, docs/audit.md) whose hash is the
    first remaining event's ``prev_hash``, and the chain must hold the
    ``audit.archived`` event that ``bgcheck audit record-archive`` wrote for that
    boundary; without both, the missing prefix is reported as tampering at seq 1.
    """
    head = session.get(AuditChainHead, 1)
    first = session.execute(sa.select(sa.func.min(AuditEvent.seq))).scalar_one_or_none()
    start_seq = first if first is not None else (head.seq + 1 if head else 1)
    start_hash = GENESIS_HASH
    if start_seq > 1:
        anchor = _archive_anchor(session, through=start_seq - 1)
        if anchor is None:
            return ChainReport(
                0,
                0,
                GENESIS_HASH,
                1,
                f"events 1 to {start_seq - 1} are missing, and no recorded archive with a "
                "checkpoint at its boundary accounts for them",
            )
        start_hash = anchor.hash
    items = merge(
        iter_events(session, after=start_seq - 1),
        iter_checkpoints(session, after=start_seq - 2),
    )
    report = verify_items(
        items, public_keys=public_keys, start_seq=start_seq, start_hash=start_hash
    )
    if not report.ok:
        return report
    if head is not None and (head.seq, head.hash) != (report.head_seq, report.head_hash):
        return dataclasses.replace(
            report,
            first_bad_seq=min(head.seq, report.head_seq) + 1,
            reason="the chain head does not match the last stored event (events removed or added)",
        )
    return report


def _archive_anchor(session: Session, *, through: int) -> AuditCheckpoint | None:
    """The checkpoint at an archive boundary, if the archive was recorded in the chain."""
    recorded = session.execute(
        sa.select(col(AuditEvent.data)).where(col(AuditEvent.action) == ARCHIVED_ACTION)
    ).scalars()
    if not any(data.get("through") == through for data in recorded):
        return None
    statement = select(AuditCheckpoint).where(AuditCheckpoint.seq == through)
    return session.exec(statement).one_or_none()
