"""Recording events in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, func, select

from bgcheck import audit
from bgcheck.models import AuditChainHead, AuditEvent
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings

Tamper = Callable[[Session], AbstractContextManager[None]]
ACTOR = audit.AuditActor.user(uuid.UUID(int=7))


def test_events_form_a_verifiable_chain(db: Session) -> None:
    before = audit.verify(db)
    first = audit.record(db, ACTOR, action="case.created", target=audit.Target.of("case", "c1"))
    second = audit.record(db, audit.AuditActor.system(), action="invitation.expired")
    assert second.seq == first.seq + 1
    assert second.prev_hash == first.hash
    report = audit.verify(db)
    assert report.ok
    assert report.checked == before.checked + 2
    assert report.head_hash == second.hash


def test_a_changed_event_is_reported_by_sequence_number(db: Session, tamper: Tamper) -> None:
    audit.record(db, ACTOR, action="case.created", data={"department": "FAC"})
    victim = audit.record(db, ACTOR, action="case.cleared", data={"note": "ok"}).seq
    audit.record(db, ACTOR, action="case.viewed")
    with tamper(db):  # the database refuses UPDATE otherwise (tests/.../test_triggers.py)
        db.execute(
            text("UPDATE audit_events SET action = 'case.not_cleared' WHERE seq = :seq"),
            {"seq": victim},
        )
    db.expire_all()
    report = audit.verify(db)
    assert report.first_bad_seq == victim
    assert "hash" in (report.reason or "")


def test_removing_the_newest_event_is_caught_by_the_chain_head(db: Session, tamper: Tamper) -> None:
    audit.record(db, ACTOR, action="case.created")
    newest = audit.record(db, ACTOR, action="pii.revealed", data={"fields": ["ssn"]}).seq
    with tamper(db):
        db.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": newest})
    db.expire_all()
    assert audit.verify(db).first_bad_seq == newest


@pytest.mark.parametrize(
    "data",
    [
        {"note": "SSN 123-45-6789 on file"},
        {"note": "SSN 123 45 6789 on file"},
        {"nested": {"list": ["ok", "123456789"]}},
        {"amount": 1.5},
        {"note": "nul \x00 inside"},
        {"key \x00": "nul in a key"},
        {"note": "a lone surrogate \ud800"},
        {"when": object()},
    ],
)
def test_pii_shaped_or_ambiguous_data_is_refused_and_nothing_written(
    db: Session, data: dict[str, object]
) -> None:
    before = db.exec(select(func.count()).select_from(AuditEvent)).one()
    with pytest.raises(audit.AuditDataError):
        audit.record(db, ACTOR, action="case.note", data=data)
    assert db.exec(select(func.count()).select_from(AuditEvent)).one() == before


def test_uuids_and_digests_in_data_are_not_mistaken_for_ssns(db: Session) -> None:
    # Nine digits between two letters: SSN-shaped, but part of an id or a digest.
    case_id = "123e4567-e89b-42d3-a456-a12345678900"
    digest = "ab" * 10 + "c123456789d" + "0" * 33
    data = {"case_id": case_id, "sha256": digest}
    assert audit.record(db, ACTOR, action="audit.exported", data=data).data == data
    with pytest.raises(audit.AuditDataError):
        audit.record(db, ACTOR, action="case.note", data={"note": f"{case_id} 123456789"})


def test_the_refusal_does_not_echo_the_value(db: Session) -> None:
    with pytest.raises(audit.AuditDataError) as raised:
        audit.record(db, ACTOR, action="case.note", data={"note": "123-45-6789"})
    assert "6789" not in str(raised.value)


def test_an_event_rolls_back_with_its_transaction(fresh_engine) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    with session_scope(engine) as session:
        audit.record(session, ACTOR, action="case.created")

    def change_that_fails_after_its_event() -> None:
        with session_scope(engine) as session:
            audit.record(session, ACTOR, action="case.invite")
            raise RuntimeError("the change failed after the event was written")

    with pytest.raises(RuntimeError):
        change_that_fails_after_its_event()
    with session_scope(engine, read_only=True) as session:
        assert audit.verify(session).checked == 1
        assert session.get(AuditChainHead, 1).seq == 1  # type: ignore[union-attr]


def _write_events(url: str, writer: int, count: int) -> None:
    engine = make_engine(Settings(), url=url)
    actor = audit.AuditActor("system", f"writer-{writer}")
    for index in range(count):
        with session_scope(engine) as session:
            audit.record(session, actor, action="test.write", data={"index": index})
    engine.dispose()


def test_two_processes_writing_at_once_keep_one_unbroken_chain(fresh_engine) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    url = engine.url.render_as_string(hide_password=False)
    per_writer = 60
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_events, args=(url, w, per_writer)) for w in (1, 2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0
    with session_scope(engine, read_only=True) as session:
        report = audit.verify(session)
        by_writer = session.exec(
            select(AuditEvent.actor_id, func.count()).group_by(AuditEvent.actor_id)
        ).all()
    assert report.ok, report
    assert report.checked == 2 * per_writer
    assert dict(by_writer) == {"writer-1": per_writer, "writer-2": per_writer}
