"""Signed checkpoints of the audit chain, and the worker job that makes them.

The hash chain shows any edit, unless whoever edits also recomputes every later hash and
the chain head. A checkpoint closes that gap: the worker signs the chain head (sequence
number, hash, time) with the keyring's Ed25519 audit key, which never enters the
database. A rewrite must then also forge a signature. An auditor checks the signatures
with the public key alone, online or on an export (``bgcheck audit verify``).

The job runs every ``JOB_TICK_SECONDS`` and signs when ``audit_checkpoint_every_events``
events are waiting or the oldest unsigned event is ``audit_checkpoint_every_minutes``
old, so no event stays unsigned much longer than that.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, col, select

from bgcheck.audit import signatures
from bgcheck.audit.chain import GENESIS_HASH
from bgcheck.audit.trail import iter_events, lock_head
from bgcheck.audit.verification import verify_items
from bgcheck.crypto.loading import load_keyring
from bgcheck.models import AuditChainHead, AuditCheckpoint, AuditEvent, utcnow
from bgcheck.platform.errors import BgcheckError
from bgcheck.platform.logs import get_logger
from bgcheck.platform.settings import get_settings

JOB_NAME: Final = "audit-checkpoint"
JOB_TICK_SECONDS: Final = 30.0

log = get_logger(__name__)


class ChainBroken(BgcheckError):
    """The events since the last checkpoint do not form a chain: nothing is signed."""

    slug = "audit-chain-broken"
    title = "Audit chain broken"


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    statement = select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq).desc()).limit(1)
    return session.exec(statement).first()


def sign_checkpoint(
    session: Session, signing_key: Ed25519PrivateKey, now: datetime
) -> AuditCheckpoint | None:
    """Sign the current chain head; None when nothing was appended since the last one.

    The head stays locked while the events since the last checkpoint are re-verified:
    a checkpoint vouches for them, so a broken segment raises ``ChainBroken`` instead of
    being signed. That is at most one checkpoint interval of events.
    """
    head = lock_head(session)
    last = latest_checkpoint(session)
    last_seq, last_hash = (last.seq, last.hash) if last else (0, GENESIS_HASH)
    if head.seq <= last_seq:
        return None
    report = verify_items(
        (("event", event) for event in iter_events(session, after=last_seq, through=head.seq)),
        start_seq=last_seq + 1,
        start_hash=last_hash,
    )
    if not report.ok or (report.head_seq, report.head_hash) != (head.seq, head.hash):
        bad = report.first_bad_seq or report.head_seq + 1
        raise ChainBroken(f"not signing: the audit chain is broken at seq {bad}")
    checkpoint = AuditCheckpoint(
        seq=head.seq,
        hash=head.hash,
        signed_at=now,
        key_id=signatures.key_id(signing_key.public_key()),
        signature=signatures.sign(signing_key, head.seq, head.hash, now),
    )
    session.add(checkpoint)
    session.flush()
    log.info("audit checkpoint signed", seq=checkpoint.seq, events=head.seq - last_seq)
    return checkpoint


def checkpoint_due(session: Session, now: datetime, *, every_events: int, every: timedelta) -> bool:
    """Are ``every_events`` events waiting, or has the oldest unsigned one waited ``every``?"""
    head = session.get(AuditChainHead, 1)
    last = latest_checkpoint(session)
    last_seq = last.seq if last else 0
    if head is None or head.seq <= last_seq:
        return False
    if head.seq - last_seq >= every_events:
        return True
    oldest = session.exec(
        select(AuditEvent.occurred_at)
        .where(col(AuditEvent.seq) > last_seq)
        .order_by(col(AuditEvent.seq))
        .limit(1)
    ).first()
    return oldest is None or now - oldest >= every


def checkpoint_job(session: Session) -> AuditCheckpoint | None:
    """The worker's tick: sign a checkpoint when one is due (settings read at each run)."""
    settings = get_settings()
    now = utcnow()
    due = checkpoint_due(
        session,
        now,
        every_events=settings.audit_checkpoint_every_events,
        every=timedelta(minutes=settings.audit_checkpoint_every_minutes),
    )
    if not due:
        return None
    # Loaded only when due: the keyring file is read at most once per checkpoint.
    return sign_checkpoint(session, load_keyring(settings).audit_signing_key(), now)
