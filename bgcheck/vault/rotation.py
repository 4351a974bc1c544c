"""Key operations on the database: which KEK wraps how many case keys, and re-wrapping.

A rotation adds a KEK to the keyring (``bgcheck.vault.rotate_keyring_file``); the data key
of every case, in ``case_keys``, is then re-wrapped under it here. Field ciphertexts are
not touched: they are sealed with the data key, which does not change.

``rewrap_all`` is online and resumable. It works in batches of rows still under another
KEK (``kek_id != active``, in ``case_id`` order), one transaction each, so a crash loses at
most the batch in flight and running it again continues where it stopped: rows already
re-wrapped no longer match. Reads keep working throughout because old KEKs stay in the
keyring. Like a worker job, and unlike the other services, it owns its transactions: one
that spanned every case would hold its locks for the whole run and lose everything on a
crash.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.crypto import Keyring, VaultError, WrappedKey, rewrap
from bgcheck.models import CaseKey
from bgcheck.platform.db import session_scope

DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class KekUsage:
    """One KEK id and how many case keys it wraps; ``created_at`` is None if not in the keyring."""

    kek_id: str
    case_keys: int
    active: bool
    created_at: datetime | None

    @property
    def in_keyring(self) -> bool:
        return self.created_at is not None


@dataclass(frozen=True, slots=True)
class KeyStatus:
    active_kek_id: str
    keks: tuple[KekUsage, ...]

    @property
    def pending(self) -> int:
        """Case keys under an older KEK of the keyring: a rotation still to finish."""
        return sum(u.case_keys for u in self.keks if u.in_keyring and not u.active)

    @property
    def unopenable(self) -> int:
        """Case keys under a KEK this keyring lacks: unreadable until it is restored."""
        return sum(usage.case_keys for usage in self.keks if not usage.in_keyring)


@dataclass(slots=True)
class RewrapReport:
    """What one run did; ``failed`` holds case ids (never key material or PII)."""

    kek_id: str
    pending_at_start: int = 0
    rewrapped: int = 0
    from_kek_ids: set[str] = field(default_factory=set)
    failed: list[uuid.UUID] = field(default_factory=list)
    remaining: int = 0
    batches: int = 0


def kek_usage(session: Session, keyring: Keyring) -> KeyStatus:
    """Every KEK of the keyring and of ``case_keys``, with how many case keys each wraps."""
    statement = select(CaseKey.kek_id, func.count()).group_by(col(CaseKey.kek_id))
    counts: dict[str, int] = {kek_id: n for kek_id, n in session.exec(statement).all()}
    usages = [
        KekUsage(kek.id, counts.pop(kek.id, 0), kek.id == keyring.active_kek_id, kek.created_at)
        for kek in sorted(keyring.keks, key=lambda kek: (kek.created_at, kek.id))
    ]
    usages += [KekUsage(kek_id, n, False, None) for kek_id, n in sorted(counts.items())]
    return KeyStatus(keyring.active_kek_id, tuple(usages))


def count_pending(session: Session, keyring: Keyring) -> int:
    statement = select(func.count()).where(col(CaseKey.kek_id) != keyring.active_kek_id)
    return int(session.exec(statement).one())


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of a run: what moved, what did not open, and where the next one starts."""

    rewrapped: int
    failed: list[uuid.UUID]
    from_kek_ids: set[str]
    last_case_id: uuid.UUID | None


def rewrap_batch(
    session: Session, keyring: Keyring, *, after: uuid.UUID | None, limit: int
) -> Batch:
    """Re-wrap up to ``limit`` case keys not under the active KEK, past ``after``.

    The rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite writers queue at ``BEGIN
    IMMEDIATE``), so a concurrent run or a retention purge never interleaves with a row.
    A key that does not open (its KEK is missing, or the row was tampered with) is left
    as it is and reported; ``after`` moves past it, so it cannot stall the run.
    """
    statement = select(CaseKey).where(col(CaseKey.kek_id) != keyring.active_kek_id)
    if after is not None:
        statement = statement.where(col(CaseKey.case_id) > after)
    statement = statement.order_by(col(CaseKey.case_id)).limit(limit).with_for_update()
    rows = session.exec(statement).all()
    failed: list[uuid.UUID] = []
    sources: set[str] = set()
    done = 0
    for row in rows:
        try:
            wrapped = WrappedKey.from_bytes(row.wrapped)
            moved = rewrap(keyring, wrapped, case_id=row.case_id)
        except VaultError:
            failed.append(row.case_id)
            continue
        sources.add(wrapped.kek_id)
        row.wrapped, row.kek_id = moved.to_bytes(), moved.kek_id
        session.add(row)
        done += 1
    session.flush()
    return Batch(done, failed, sources, rows[-1].case_id if rows else None)


def rewrap_all(
    engine: Engine,
    keyring: Keyring,
    actor: audit.AuditActor,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_start: Callable[[int], object] | None = None,
    on_batch: Callable[[Batch], object] | None = None,
) -> RewrapReport:
    """Re-wrap every case key under the active KEK, a batch per transaction; audit the run.

    ``on_start`` gets the number of keys to do, ``on_batch`` each committed batch (a
    progress bar; tests raise from it to simulate a crash). The run ends with one
    ``keys.rewrapped`` event holding ids and counts only.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = RewrapReport(kek_id=keyring.active_kek_id)
    with session_scope(engine, read_only=True) as session:
        report.pending_at_start = count_pending(session, keyring)
    if on_start is not None:
        on_start(report.pending_at_start)
    after: uuid.UUID | None = None
    while True:
        with session_scope(engine) as session:
            batch = rewrap_batch(session, keyring, after=after, limit=batch_size)
        if batch.last_case_id is None:
            break
        after = batch.last_case_id
        report.batches += 1
        report.rewrapped += batch.rewrapped
        report.failed += batch.failed
        report.from_kek_ids |= batch.from_kek_ids
        if on_batch is not None:
            on_batch(batch)
    with session_scope(engine) as session:
        report.remaining = count_pending(session, keyring)
        audit.record(
            session,
            actor,
            action="keys.rewrapped",
            data={
                "kek_id": report.kek_id,
                "from_kek_ids": sorted(report.from_kek_ids),
                "rewrapped": report.rewrapped,
                "failed": len(report.failed),
                "remaining": report.remaining,
            },
        )
    return report


def record_rotation(
    session: Session, actor: audit.AuditActor, *, previous: Keyring, rotated: Keyring, where: str
) -> None:
    """The audit event of a rotation: the KEK ids and where the new keyring went."""
    audit.record(
        session,
        actor,
        action="keys.rotated",
        data={
            "kek_id": rotated.active_kek_id,
            "previous_kek_id": previous.active_kek_id,
            "keks": len(rotated.keks),
            "keyring": where,
        },
    )
