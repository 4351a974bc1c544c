"""Archiving: recorded in the chain first, then the owner's deletion leaves a verifiable rest."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from bgcheck import audit
from bgcheck.audit import archive, checkpoints
from bgcheck.audit import export as exports
from bgcheck.models import AuditCheckpoint, utcnow
from bgcheck.platform.errors import InvalidInput

Tamper = Callable[[Session], AbstractContextManager[None]]
ACTOR = audit.AuditActor.system("tests")


def record(session: Session, count: int) -> int:
    return [audit.record(session, ACTOR, action="case.viewed") for _ in range(count)][-1].seq


def export(session: Session) -> list[str]:
    chunks = exports.export(session, ACTOR, fmt="jsonl", filters=exports.ExportFilters())
    return "".join(chunks).splitlines(keepends=True)


def owner_deletes_through(session: Session, tamper: Tamper, through: int) -> None:
    """What the documented SQL procedure does, as the table owner."""
    with tamper(session):
        session.execute(sa.text("DELETE FROM audit_events WHERE seq <= :k"), {"k": through})
        session.execute(sa.text("DELETE FROM audit_checkpoints WHERE seq < :k"), {"k": through})
    session.expire_all()


@pytest.fixture
def signed(db: Session, signing_key: Ed25519PrivateKey) -> AuditCheckpoint:
    """A trail with a checkpoint to archive up to, and events after it."""
    record(db, 4)
    boundary = checkpoints.sign_checkpoint(db, signing_key, utcnow())
    assert boundary is not None
    record(db, 2)
    return boundary


def test_a_recorded_archive_leaves_a_verifiable_rest(
    db: Session, signing_key: Ed25519PrivateKey, signed: AuditCheckpoint, tamper: Tamper
) -> None:
    keys = [signing_key.public_key()]
    event = archive.record_archive(
        db, ACTOR, through=signed.seq, export_lines=export(db), public_keys=keys
    )
    assert event.action == "audit.archived"
    assert event.data["through"] == signed.seq
    assert len(event.data["export_sha256"]) == 64
    owner_deletes_through(db, tamper, signed.seq)
    report = audit.verify(db, public_keys=keys)
    assert report.ok, report
    assert report.head_seq - report.checked == signed.seq
    assert report.signed_through == signed.seq  # the anchor's signature was checked


def test_deleting_old_events_without_a_recorded_archive_is_tampering(
    db: Session, signing_key: Ed25519PrivateKey, signed: AuditCheckpoint, tamper: Tamper
) -> None:
    owner_deletes_through(db, tamper, signed.seq)
    report = audit.verify(db, public_keys=[signing_key.public_key()])
    assert report.first_bad_seq == 1
    assert "no recorded archive" in (report.reason or "")


def test_the_anchor_checkpoint_must_stay(
    db: Session, signing_key: Ed25519PrivateKey, signed: AuditCheckpoint, tamper: Tamper
) -> None:
    keys = [signing_key.public_key()]
    archive.record_archive(db, ACTOR, through=signed.seq, export_lines=export(db), public_keys=keys)
    owner_deletes_through(db, tamper, signed.seq)
    with tamper(db):
        db.execute(sa.text("DELETE FROM audit_checkpoints"))
    db.expire_all()
    assert audit.verify(db, public_keys=keys).first_bad_seq == 1


def test_an_archive_must_end_at_a_checkpoint_and_be_covered_by_a_verified_export(
    db: Session, signing_key: Ed25519PrivateKey, signed: AuditCheckpoint
) -> None:
    keys = [signing_key.public_key()]
    lines = export(db)
    with pytest.raises(InvalidInput, match="no checkpoint"):
        archive.record_archive(
            db, ACTOR, through=signed.seq + 1, export_lines=lines, public_keys=keys
        )
    with pytest.raises(InvalidInput, match="does not verify"):
        archive.record_archive(
            db, ACTOR, through=signed.seq, export_lines=lines[:-1], public_keys=keys
        )
    other = [Ed25519PrivateKey.generate().public_key()]
    with pytest.raises(InvalidInput, match="does not verify"):
        archive.record_archive(db, ACTOR, through=signed.seq, export_lines=lines, public_keys=other)
