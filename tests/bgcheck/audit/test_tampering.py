"""A real chain in the database, tampered with at random: verification names the place.

Each example builds events and signed checkpoints with the production code, then does
what an attacker holding the table owner's rights could (the triggers are bypassed):
change a field, delete, insert, reorder or append an event, rewrite the chain with
recomputed hashes and head, or forge a checkpoint. ``audit.verify`` must fail at the
right sequence number. Everything is rolled back after each example.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session

from bgcheck import audit
from bgcheck.audit.chain import event_hash
from bgcheck.audit.checkpoints import sign_checkpoint
from bgcheck.models import AuditChainHead, AuditCheckpoint, AuditEvent, new_id, utcnow

EVENTS = AuditEvent.__table__
CHECKPOINTS = AuditCheckpoint.__table__
FIELDS = (
    "action",
    "actor_kind",
    "actor_id",
    "target_type",
    "target_id",
    "request_id",
    "data",
    "canonical_data",
    "occurred_at",
    "prev_hash",
    "hash",
)
MUTATIONS = (
    "change",
    "delete",
    "insert",
    "reorder",
    "append",
    "rewrite",
    "forge-checkpoint",
    "add-checkpoint",
)

payloads = st.dictionaries(
    st.sampled_from(["note", "state", "count"]),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
    ),
    max_size=3,
)


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


def build(
    session: Session, key: Ed25519PrivateKey, specs: list[dict[str, Any]], signed: set[int]
) -> list[int]:
    """Record the events, signing a checkpoint after each position in ``signed``."""
    seqs = []
    for position, data in enumerate(specs, start=1):
        seqs.append(
            audit.record(
                session,
                audit.AuditActor("user", f"user-{position % 3}"),
                action="case.viewed",
                target=audit.Target.of("case", f"case-{position % 2}"),
                data=data,
            ).seq
        )
        if position in signed:
            sign_checkpoint(session, key, utcnow())
    return seqs


def random_hash() -> str:
    return secrets.token_hex(32)


def row(session: Session, seq: int) -> dict[str, Any]:
    return dict(session.execute(sa.select(EVENTS).where(EVENTS.c.seq == seq)).mappings().one())


def shift_up_from(session: Session, seq: int) -> None:
    """Make room at ``seq`` (two steps: the primary key is checked row by row)."""
    session.execute(sa.update(EVENTS).where(EVENTS.c.seq >= seq).values(seq=-EVENTS.c.seq))
    session.execute(sa.update(EVENTS).where(EVENTS.c.seq < 0).values(seq=-EVENTS.c.seq + 1))


def changed(field: str, old: Any) -> Any:
    if field == "data":
        return {**old, "forged": True}
    if field == "canonical_data":  # the hashed text edited apart from the data beside it
        return old + " "
    if isinstance(old, datetime):
        return old + timedelta(microseconds=1)
    if field in ("prev_hash", "hash"):
        return random_hash()
    return (old or "") + "x"


def mutate(
    session: Session, data: st.DataObject, seqs: list[int], signed: list[int], mutation: str
) -> int:
    """Tamper as drawn; return the sequence number verification must report."""
    last = seqs[-1]
    if mutation == "change":
        victim = data.draw(st.sampled_from(seqs), label="victim")
        field = data.draw(st.sampled_from(FIELDS), label="field")
        value = changed(field, row(session, victim)[field])
        session.execute(sa.update(EVENTS).where(EVENTS.c.seq == victim).values({field: value}))
        return victim
    if mutation == "delete":
        victim = data.draw(st.sampled_from(seqs), label="victim")
        session.execute(sa.delete(EVENTS).where(EVENTS.c.seq == victim))
        return victim
    if mutation == "insert":
        victim = data.draw(st.sampled_from(seqs), label="at")
        forged = {**row(session, victim), "action": "case.forged"}
        shift_up_from(session, victim)
        forged.update(prev_hash=random_hash(), hash=random_hash())
        session.execute(sa.insert(EVENTS).values(forged))
        return victim
    if mutation == "reorder":
        i = data.draw(st.sampled_from(seqs[:-1]), label="i")
        j = data.draw(st.sampled_from([s for s in seqs if s > i]), label="j")
        for old, new in ((i, 0), (j, i), (0, j)):
            session.execute(sa.update(EVENTS).where(EVENTS.c.seq == old).values(seq=new))
        return i
    if mutation == "append":  # a well-linked event slipped in after the head
        forged = {**row(session, last), "seq": last + 1, "prev_hash": row(session, last)["hash"]}
        forged["hash"] = event_hash(forged["prev_hash"], forged)
        session.execute(sa.insert(EVENTS).values(forged))
        return last + 1
    if mutation == "rewrite":  # change one event, recompute every later hash and the head
        victim = data.draw(st.sampled_from(seqs), label="victim")
        prev = row(session, victim)["prev_hash"]
        for seq in range(victim, last + 1):
            event = row(session, seq)
            if seq == victim:
                event["action"] = "case.forged"
            event["prev_hash"], event["hash"] = prev, event_hash(prev, event)
            prev = event["hash"]
            values = {k: event[k] for k in ("action", "prev_hash", "hash")}
            session.execute(sa.update(EVENTS).where(EVENTS.c.seq == seq).values(values))
        session.execute(sa.update(AuditChainHead).values(hash=prev))
        return min(seq for seq in signed if seq >= victim)
    if mutation == "forge-checkpoint":
        victim = data.draw(st.sampled_from(signed), label="checkpoint")
        field = data.draw(st.sampled_from(["hash", "signed_at", "signature"]), label="field")
        old = session.execute(
            sa.select(CHECKPOINTS.c[field]).where(CHECKPOINTS.c.seq == victim)
        ).scalar_one()
        value = secrets.token_hex(64) if field == "signature" else changed(field, old)
        statement = sa.update(CHECKPOINTS).where(CHECKPOINTS.c.seq == victim)
        session.execute(statement.values({field: value}))
        return victim
    # add-checkpoint: a checkpoint nobody signed, where there was none
    unsigned = [seq for seq in seqs if seq not in signed]
    victim = data.draw(st.sampled_from(unsigned), label="at") if unsigned else last
    if not unsigned:
        session.execute(sa.delete(CHECKPOINTS).where(CHECKPOINTS.c.seq == last))
    forged = {
        "id": new_id(),
        "seq": victim,
        "hash": row(session, victim)["hash"],
        "signed_at": utcnow(),
        "key_id": secrets.token_hex(32),
        "signature": secrets.token_hex(64),
    }
    session.execute(sa.insert(CHECKPOINTS).values(forged))
    return victim


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(payloads, min_size=2, max_size=9),
    mutation=st.sampled_from(MUTATIONS),
    data=st.data(),
)
def test_any_tampering_fails_verification_at_the_right_seq(
    engine: Engine,
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[Session], AbstractContextManager[None]],
    specs: list[dict[str, Any]],
    mutation: str,
    data: st.DataObject,
) -> None:
    positions = data.draw(st.sets(st.integers(1, len(specs) - 1), max_size=3), label="signed")
    positions.add(len(specs))  # the worker has signed the head
    keys = [signing_key.public_key()]
    with rolled_back(engine) as session:
        seqs = build(session, signing_key, specs, positions)
        signed = [seqs[p - 1] for p in sorted(positions)]
        assert audit.verify(session, public_keys=keys).ok
        with tamper(session):
            expected = mutate(session, data, seqs, signed, mutation)
        session.expire_all()
        report = audit.verify(session, public_keys=keys)
        assert report.first_bad_seq == expected, (mutation, report)


def test_events_from_before_the_canonical_text_still_verify(
    engine: Engine,
    signing_key: Ed25519PrivateKey,
    tamper: Callable[[Session], AbstractContextManager[None]],
) -> None:
    """Events recorded before migration 0008 have no ``canonical_data``: their hash is
    checked against ``data`` alone, as before."""
    keys = [signing_key.public_key()]
    with rolled_back(engine) as session:
        seqs = build(session, signing_key, [{"note": "a"}, {}, {"count": 2}], {3})
        with tamper(session):
            session.execute(
                sa.update(EVENTS).where(EVENTS.c.seq <= seqs[1]).values(canonical_data=None)
            )
        session.expire_all()
        assert audit.verify(session, public_keys=keys).ok
        with tamper(session):
            statement = sa.update(EVENTS).where(EVENTS.c.seq == seqs[0])
            session.execute(statement.values(data={"note": "b"}))
        session.expire_all()
        assert audit.verify(session, public_keys=keys).first_bad_seq == seqs[0]
