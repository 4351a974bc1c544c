"""Signed checkpoints in the database, the worker job that makes them, and archiving."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlmodel import Session, select

from bgcheck import audit, jobs
from bgcheck.audit import checkpoints, signatures
from bgcheck.crypto import Keyring
from bgcheck.models import AuditCheckpoint, utcnow
from bgcheck.platform import worker as background
from bgcheck.platform.settings import SettingsError, get_settings, load_settings

Tamper = Callable[[Session], AbstractContextManager[None]]
ACTOR = audit.AuditActor.system("tests")


def record(session: Session, count: int) -> int:
    return [audit.record(session, ACTOR, action="case.viewed") for _ in range(count)][-1].seq


def test_a_checkpoint_signs_the_head_and_only_when_there_is_something_new(
    db: Session, signing_key: Ed25519PrivateKey
) -> None:
    now = utcnow()
    first = checkpoints.sign_checkpoint(db, signing_key, now)
    baseline = first.seq if first else 0  # whatever the shared database already held
    last = record(db, 3)
    made = checkpoints.sign_checkpoint(db, signing_key, now)
    assert made is not None
    assert made.seq == last > baseline
    assert made.key_id == signatures.key_id(signing_key.public_key())
    assert signatures.is_valid(
        signing_key.public_key(), made.seq, made.hash, made.signed_at, made.signature
    )
    assert checkpoints.sign_checkpoint(db, signing_key, now) is None
    report = audit.verify(db, public_keys=[signing_key.public_key()])
    assert report.ok, report
    assert report.signed_through == last
    assert report.signatures_checked


def test_a_broken_segment_is_never_signed(
    db: Session, signing_key: Ed25519PrivateKey, tamper: Tamper
) -> None:
    victim = record(db, 2)
    record(db, 1)
    with tamper(db):
        db.execute(sa.text("UPDATE audit_events SET action = 'x' WHERE seq = :s"), {"s": victim})
    with pytest.raises(checkpoints.ChainBroken, match=f"seq {victim}"):
        checkpoints.sign_checkpoint(db, signing_key, utcnow())


def test_a_checkpoint_is_due_after_n_events_or_when_the_oldest_unsigned_is_m_old(
    db: Session, signing_key: Ed25519PrivateKey
) -> None:
    now = utcnow()
    checkpoints.sign_checkpoint(db, signing_key, now)
    every = timedelta(minutes=15)
    assert not checkpoints.checkpoint_due(db, now, every_events=3, every=every)
    record(db, 2)
    now = utcnow()
    assert not checkpoints.checkpoint_due(db, now, every_events=3, every=every)
    assert checkpoints.checkpoint_due(db, now + every, every_events=3, every=every)
    record(db, 1)
    assert checkpoints.checkpoint_due(db, now, every_events=3, every=every)
    checkpoints.sign_checkpoint(db, signing_key, now)
    assert not checkpoints.checkpoint_due(db, now + 2 * every, every_events=3, every=every)


@pytest.fixture
def keyring_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Keyring]:
    keyring = Keyring.generate()
    monkeypatch.setenv("BGCHECK_KEYRING", keyring.to_json())
    monkeypatch.setenv("BGCHECK_AUDIT_CHECKPOINT_EVERY_EVENTS", "2")
    get_settings.cache_clear()
    yield keyring
    get_settings.cache_clear()


def test_the_worker_runs_the_registered_job(fresh_engine, keyring_env: Keyring) -> None:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    registered = {job.name: job for job in jobs.PERIODIC}
    assert checkpoints.JOB_NAME in registered
    found = registered[checkpoints.JOB_NAME]
    job = background.Job(found.name, found.every_seconds, found.run)  # run_due moves next_at
    with Session(engine) as session:
        record(session, 1)
        session.commit()
    assert background.run_due(engine, [job], now=0.0) == 1
    with Session(engine) as session:
        assert session.exec(select(AuditCheckpoint)).all() == []  # one event: not due yet
        record(session, 1)
        session.commit()
    background.run_due(engine, [job], now=job.every_seconds)
    with Session(engine) as session:
        made = session.exec(select(AuditCheckpoint)).one()
        assert made.seq == 2
        public = keyring_env.audit_signing_key().public_key()
        assert audit.verify(session, public_keys=[public]).signed_through == 2


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BGCHECK_AUDIT_CHECKPOINT_EVERY_EVENTS", "0"),
        ("BGCHECK_AUDIT_CHECKPOINT_EVERY_MINUTES", "0"),
        ("BGCHECK_AUDIT_CHECKPOINT_EVERY_MINUTES", "often"),
    ],
)
def test_bad_checkpoint_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_defaults_are_a_thousand_events_or_fifteen_minutes() -> None:
    config = load_settings()
    assert (config.audit_checkpoint_every_events, config.audit_checkpoint_every_minutes) == (
        1000,
        15,
    )
