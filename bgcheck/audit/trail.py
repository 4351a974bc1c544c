"""Recording audit events in the same transaction as the change they describe.

Appends are serialized through the one-row ``audit_chain_head`` table, locked with
``SELECT … FOR UPDATE`` on PostgreSQL (SQLite writers are already serialized by
``BEGIN IMMEDIATE``). Locking the newest event row would not work: a second writer
waiting on it would then read a stale head and fork the chain.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlmodel import Session, select

from bgcheck.audit.chain import GENESIS_HASH, ChainReport, event_hash, verify_events
from bgcheck.models import AuditChainHead, AuditEvent, utcnow

ActorKind = Literal["user", "candidate", "vendor", "system"]

# Audit data is PII-free by contract; this catches the most damaging slip early.
_SSN_LIKE: Final = re.compile(r"(?<!\d)\d{3}-?\d{2}-?\d{4}(?!\d)")


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
    clean = _checked_data(data or {})
    head = _locked_head(session)
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
        prev_hash=head.hash,
        hash="",
    )
    event.hash = event_hash(head.hash, event.model_dump())
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event


def _locked_head(session: Session) -> AuditChainHead:
    statement = select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
    head = session.exec(statement).one_or_none()
    if head is None:
        # The migration inserts the head row; this covers a database made from metadata.
        head = AuditChainHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    return head


def _checked_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Only JSON strings, integers, booleans, None, lists and dicts; nothing SSN-shaped.

    Floats are refused because their JSON text is not canonical across databases.
    """

    def check(value: Any, path: str) -> Any:
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, str):
            if _SSN_LIKE.search(value):
                raise AuditDataError(f"audit data {path} looks like an SSN")
            return value
        if isinstance(value, list | tuple):
            return [check(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, Mapping):
            return {str(k): check(v, f"{path}.{k}") for k, v in value.items()}
        raise AuditDataError(f"audit data {path} has unsupported type {type(value).__name__}")

    return check(dict(data), "data")


def iter_events(session: Session, *, batch: int = 1000) -> Iterator[Mapping[str, Any]]:
    """Every event as a plain mapping, in sequence order, fetched in keyset batches.

    Rows, not ORM objects: the session's identity map would otherwise grow with the trail.
    """
    table = AuditEvent.__table__
    last = 0
    while True:
        rows = (
            session.execute(
                sa.select(table).where(table.c.seq > last).order_by(table.c.seq).limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1]["seq"]


def verify(session: Session) -> ChainReport:
    """Recompute the whole stored chain and compare its end with the chain head."""
    report = verify_events(iter_events(session))
    if not report.ok:
        return report
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.seq, head.hash) != (report.head_seq, report.head_hash):
        return ChainReport(
            report.checked,
            report.head_seq,
            report.head_hash,
            min(head.seq, report.head_seq) + 1,
            "the chain head does not match the last stored event (events removed or added)",
        )
    return report
