"""The database itself refuses to change or remove audit events and checkpoints.

Run against the schema at head, so a later migration that drops the triggers (an
SQLite batch copy of the table does) fails here.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from bgcheck import audit
from bgcheck.audit.checkpoints import sign_checkpoint
from bgcheck.models import AuditChainHead, utcnow

ACTOR = audit.AuditActor.system("tests")

REFUSED = [
    "UPDATE audit_events SET action = 'case.forged'",
    "DELETE FROM audit_events",
    "DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)",
    "UPDATE audit_checkpoints SET hash = 'forged'",
    "DELETE FROM audit_checkpoints",
]


@pytest.fixture
def trail(db: Session, signing_key: Ed25519PrivateKey) -> Session:
    for index in range(3):
        audit.record(db, ACTOR, action="case.viewed", data={"n": index})
    sign_checkpoint(db, signing_key, utcnow())
    return db


@pytest.mark.parametrize("statement", REFUSED)
def test_changing_or_removing_audit_rows_is_refused(trail: Session, statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        trail.execute(sa.text(statement))


def test_postgresql_refuses_even_a_change_that_matches_no_row(trail: Session) -> None:
    statement = sa.text("UPDATE audit_events SET action = 'case.forged' WHERE seq < 0")
    if trail.connection().dialect.name == "postgresql":  # statement-level triggers
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            trail.execute(statement)
    else:  # SQLite triggers fire per row: nothing matched, nothing changed
        assert trail.execute(statement).rowcount == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("table", ["audit_events", "audit_checkpoints"])
def test_a_table_cannot_be_emptied_at_once(trail: Session, table: str) -> None:
    # PostgreSQL has TRUNCATE, which skips row triggers: a TRUNCATE trigger refuses it.
    # SQLite has none; its DELETE-everything shortcut is off when triggers exist.
    postgresql = trail.connection().dialect.name == "postgresql"
    statement = f"TRUNCATE {table}" if postgresql else f"DELETE FROM {table}"  # noqa: S608
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        trail.execute(sa.text(statement))


def test_appending_and_moving_the_chain_head_still_work(trail: Session) -> None:
    event = audit.record(trail, ACTOR, action="case.viewed")
    trail.expire_all()
    head = trail.get(AuditChainHead, 1)
    assert head is not None
    assert (head.seq, head.hash) == (event.seq, event.hash)
    assert audit.verify(trail).ok


def test_the_refusal_rolls_back_nothing_else(trail: Session) -> None:
    before = trail.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
    with pytest.raises(sa.exc.DBAPIError), trail.begin_nested():
        trail.execute(sa.text("DELETE FROM audit_events"))
    assert trail.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one() == before
    assert audit.verify(trail).ok
