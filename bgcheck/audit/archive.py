"""Recording an archive in the chain, before the table owner removes the old events.

The audit tables are append-only, so removing old events is a separate procedure run by
the table owner (docs/audit.md, "Archiving"). What makes it legitimate rather than
tampering is recorded here first, in the chain itself: an ``audit.archived`` event that
names the boundary (a checkpoint's sequence number) and the SHA-256 of a verified export
that holds every event up to it. ``audit.verify`` accepts a chain whose oldest events are
missing only when such an event and the boundary checkpoint are both there; the owner's
SQL refuses to delete without them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, select

from bgcheck.audit.offline import verify_export
from bgcheck.audit.trail import ARCHIVED_ACTION, AuditActor, record
from bgcheck.models import AuditCheckpoint, AuditEvent
from bgcheck.platform.errors import InvalidInput


def record_archive(
    session: Session,
    actor: AuditActor,
    *,
    through: int,
    export_lines: Iterable[str],
    public_keys: Iterable[Ed25519PublicKey],
) -> AuditEvent:
    """Check the export covers every stored event up to ``through``; record the archive.

    ``through`` must be a checkpoint's sequence number: that checkpoint stays behind as
    the anchor from which the remaining chain is verified.
    """
    boundary = select(AuditCheckpoint).where(AuditCheckpoint.seq == through)
    if session.exec(boundary).one_or_none() is None:
        raise InvalidInput(
            f"no checkpoint at seq {through}: archive up to a checkpoint's sequence number "
            "(`bgcheck audit checkpoint` signs one now)"
        )
    first = session.execute(sa.select(sa.func.min(AuditEvent.seq))).scalar_one_or_none()
    if first is None or first > through:
        raise InvalidInput(f"nothing to archive: the oldest stored event is after seq {through}")
    digest = hashlib.sha256()
    report = verify_export(_hashing(export_lines, digest.update), public_keys=public_keys)
    chain = report.chain
    if report.status != "ok" or chain is None:
        raise InvalidInput(f"the export does not verify: {report.summary}")
    held_from = chain.head_seq - chain.checked + 1
    if held_from != first or chain.signed_through < through:
        raise InvalidInput(
            f"the export must hold seq {first} to {through} under valid signatures; it holds "
            f"seq {held_from} to {chain.head_seq}, signed through {chain.signed_through}"
        )
    return record(
        session,
        actor,
        action=ARCHIVED_ACTION,
        data={
            "from": first,
            "through": through,
            "events": through - first + 1,
            "export_sha256": digest.hexdigest(),
        },
    )


def _hashing(lines: Iterable[str], update: Callable[[bytes], object]) -> Iterator[str]:
    """The lines, unchanged, fed to ``update`` on their way: one pass over the file."""
    for line in lines:
        update(line.encode("utf-8"))
        yield line
