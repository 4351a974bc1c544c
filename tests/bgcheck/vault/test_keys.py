"""KEK rotation: re-wrapping every case key in batches, online and resumable (both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bgcheck.cases.service import CaseContext
from bgcheck.crypto import KeyNotFound, Keyring, rotate_keyring_file, wrap
from bgcheck.crypto.envelope import DataKey
from bgcheck.models import AuditEvent, CaseKey, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from bgcheck.vault import rotation as key_service
from bgcheck.vault.store import Vault
from workflow import Role

from support.cases import CASE, case_context, new_case, to_pending_review
from support.factories import TEST_ACTOR, make_actor

CASES = 23
BATCH = 4


class Crash(Exception):
    """Stands in for the process dying between two batches."""


def seed(engine: Engine, ctx: CaseContext, count: int = CASES) -> list[uuid.UUID]:
    """Cases with contact details; every fifth went through consent (details, documents)."""
    now = utcnow()
    with session_scope(engine) as session:
        hr = make_actor(session, Role.HR)
        return [
            to_pending_review(session, ctx, hr, now)
            if n % 5 == 0
            else new_case(session, ctx, hr, now)
            for n in range(count)
        ]


def readable(session: Session, vault: Vault, case_ids: list[uuid.UUID]) -> bool:
    for case_id in case_ids:
        contact = vault.contact(session, case_id)
        assert contact.email == CASE["candidate"]["email"]  # type: ignore[index]
        vault.details(session, case_id)
    return True


def kek_ids(session: Session) -> dict[uuid.UUID, str]:
    return {row.case_id: row.kek_id for row in session.exec(select(CaseKey)).all()}


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    path = tmp_path / "keyring.json"
    Keyring.generate().save(path)
    return path


@pytest.fixture
def ctx(keyring_file: Path, tmp_path: Path) -> CaseContext:
    return case_context(Settings(data_dir=tmp_path, keyring_file=keyring_file))


def test_status_counts_case_keys_per_kek(
    fresh_engine: Callable[[], Engine], ctx: CaseContext, keyring_file: Path
) -> None:
    engine = fresh_engine()
    seed(engine, ctx, count=3)
    old = ctx.vault.keyring.active_kek_id
    rotated = rotate_keyring_file(keyring_file)
    with session_scope(engine, read_only=True) as session:
        status = key_service.kek_usage(session, rotated)
    assert status.active_kek_id == rotated.active_kek_id
    assert [(u.kek_id, u.case_keys, u.active) for u in status.keks] == [
        (old, 3, False),
        (rotated.active_kek_id, 0, True),
    ]
    assert (status.pending, status.unopenable) == (3, 0)


def test_an_interrupted_rewrap_resumes_and_reads_work_throughout(
    fresh_engine: Callable[[], Engine], ctx: CaseContext, keyring_file: Path
) -> None:
    engine = fresh_engine()
    case_ids = seed(engine, ctx)
    old_kek = ctx.vault.keyring.active_kek_id
    rotated = rotate_keyring_file(keyring_file)
    # A process started before the rotation, which can reload its keyring from the file.
    stale = Vault(ctx.vault.keyring, reload=lambda: Keyring.load(keyring_file))
    current = Vault(rotated)

    def crash_after_two(batch: key_service.Batch) -> None:
        done.append(batch.rewrapped)
        if len(done) == 2:
            raise Crash

    done: list[int] = []
    with pytest.raises(Crash):
        key_service.rewrap_all(
            engine, rotated, TEST_ACTOR, batch_size=BATCH, on_batch=crash_after_two
        )
    with session_scope(engine, read_only=True) as session:
        after_crash = kek_ids(session)
        # Half-way: the first two batches (in case_id order) committed, the rest did not.
        ordered = sorted(after_crash)
        assert [after_crash[c] for c in ordered[: 2 * BATCH]] == [rotated.active_kek_id] * (
            2 * BATCH
        )
        assert set(after_crash[c] for c in ordered[2 * BATCH :]) == {old_kek}
        # Reads keep working: the rotated keyring has both KEKs, and a stale process
        # reloads its keyring on the first key under the new KEK.
        assert readable(session, current, case_ids)
        assert readable(session, stale, case_ids)
        assert stale.keyring.active_kek_id == rotated.active_kek_id
        assert key_service.count_pending(session, rotated) == CASES - 2 * BATCH
        assert not session.exec(
            select(AuditEvent).where(AuditEvent.action == "keys.rewrapped")
        ).all()

    report = key_service.rewrap_all(engine, rotated, TEST_ACTOR, batch_size=BATCH)
    assert report.rewrapped == CASES - 2 * BATCH
    assert (report.remaining, report.failed) == (0, [])
    assert report.from_kek_ids == {old_kek}
    with session_scope(engine, read_only=True) as session:
        assert set(kek_ids(session).values()) == {rotated.active_kek_id}
        assert readable(session, current, case_ids)
        # The old KEK is no longer needed by any row: a keyring without it reads everything.
        assert readable(session, Vault(rotated.retire(old_kek)), case_ids)
        events = session.exec(
            select(AuditEvent.data).where(AuditEvent.action == "keys.rewrapped")
        ).all()
    assert list(events) == [
        {
            "kek_id": rotated.active_kek_id,
            "from_kek_ids": [old_kek],
            "rewrapped": CASES - 2 * BATCH,
            "failed": 0,
            "remaining": 0,
        }
    ]
    # Running again finds nothing to do.
    assert key_service.rewrap_all(engine, rotated, TEST_ACTOR, batch_size=BATCH).rewrapped == 0


def test_a_key_under_a_missing_kek_is_reported_and_does_not_stall_the_run(
    fresh_engine: Callable[[], Engine], ctx: CaseContext, keyring_file: Path
) -> None:
    engine = fresh_engine()
    case_ids = seed(engine, ctx, count=6)
    lost = Keyring.generate()  # a KEK nobody kept
    orphan = sorted(case_ids)[2]
    with session_scope(engine) as session:
        row = session.get(CaseKey, orphan)
        assert row is not None
        wrapped = wrap(lost, DataKey.generate(), case_id=orphan)
        row.wrapped, row.kek_id = wrapped.to_bytes(), wrapped.kek_id
        session.add(row)
    rotated = rotate_keyring_file(keyring_file)

    report = key_service.rewrap_all(engine, rotated, TEST_ACTOR, batch_size=2)
    assert report.failed == [orphan]
    assert report.rewrapped == 5
    assert report.remaining == 1
    with session_scope(engine, read_only=True) as session:
        status = key_service.kek_usage(session, rotated)
        assert status.unopenable == 1
        assert status.pending == 0
        assert [u.kek_id for u in status.keks if not u.in_keyring] == [lost.active_kek_id]
        with pytest.raises(KeyNotFound):
            Vault(rotated).key(session, orphan)


def test_a_stale_process_without_reload_fails_loudly_not_silently(
    fresh_engine: Callable[[], Engine], ctx: CaseContext, keyring_file: Path
) -> None:
    engine = fresh_engine()
    (case_id,) = seed(engine, ctx, count=1)
    frozen = Vault(ctx.vault.keyring)
    rotated = rotate_keyring_file(keyring_file)
    key_service.rewrap_all(engine, rotated, TEST_ACTOR)
    with session_scope(engine, read_only=True) as session, pytest.raises(KeyNotFound):
        frozen.contact(session, case_id)


def test_batch_size_must_be_positive(fresh_engine: Callable[[], Engine], ctx: CaseContext) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        key_service.rewrap_all(fresh_engine(), ctx.vault.keyring, TEST_ACTOR, batch_size=0)


def test_rewrap_batch_touches_only_rows_past_the_cursor(
    db: Session, ctx: CaseContext, keyring_file: Path
) -> None:
    hr = make_actor(db, Role.HR)
    ids = sorted(new_case(db, ctx, hr, utcnow()) for _ in range(3))
    rotated = rotate_keyring_file(keyring_file)
    batch = key_service.rewrap_batch(db, rotated, after=ids[0], limit=10)
    assert batch.last_case_id == ids[-1]
    moved = db.exec(
        select(CaseKey.case_id).where(col(CaseKey.kek_id) == rotated.active_kek_id)
    ).all()
    assert sorted(moved) == ids[1:]
