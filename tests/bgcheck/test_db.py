"""Database behaviour both backends must share."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InternalError, OperationalError
from sqlmodel import Session, select

from bgcheck.models import Case, Department, User
from bgcheck.platform.db import Outage, make_engine, outage, session_scope
from bgcheck.platform.settings import Settings


def test_embedded_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(Settings(data_dir=tmp_path / "nested" / "var"))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    assert (tmp_path / "nested" / "var" / "bgcheck.db").exists()


def test_sqlite_writers_queue_instead_of_failing(fresh_engine, backend: str) -> None:  # type: ignore[no-untyped-def]
    """A read-then-write transaction must not fail when another writer commits meanwhile."""
    engine: Engine = fresh_engine()
    with session_scope(engine) as setup:
        setup.add(Department(code="Q", name="Queue"))
    errors: list[BaseException] = []

    def read_then_write(name: str) -> None:
        try:
            with session_scope(engine) as session:
                session.exec(select(Department)).all()
                time.sleep(0.05)
                session.add(Department(code=name, name=name))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=read_then_write, args=(f"T{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_scope(engine, read_only=True) as session:
        assert len(session.exec(select(Department)).all()) == 9


def test_foreign_keys_are_enforced(db: Session) -> None:
    orphan = Case(
        department_id=uuid.uuid4(),
        position_title="Groundskeeper",
        package="standard",
        created_by=uuid.uuid4(),
    )
    db.add(orphan)
    with pytest.raises(IntegrityError):
        db.flush()


def test_times_come_back_aware_utc_with_microseconds(db: Session) -> None:
    eastern = timezone(timedelta(hours=-5))
    moment = datetime(2026, 3, 8, 1, 59, 59, 123456, tzinfo=eastern)
    department = Department(code="UTC", name="Time", created_at=moment)
    db.add(department)
    db.flush()
    db.expire_all()
    stored = db.get(Department, department.id)
    assert stored is not None
    assert stored.created_at == moment
    assert stored.created_at.tzinfo == UTC
    assert stored.created_at.microsecond == 123456


def test_naive_times_are_refused(db: Session) -> None:
    db.add(Department(code="NAIVE", name="Naive", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001
    with pytest.raises(Exception, match="naive datetime"):
        db.flush()


def test_a_case_id_is_known_before_the_row_is_written(db: Session) -> None:
    department = Department(code="IDS", name="Ids")
    user = User(email="ids@example.edu", display_name="Ids")
    case = Case(
        department_id=department.id,
        position_title="Analyst",
        package="standard",
        created_by=user.id,
    )
    known_before = case.id
    db.add_all([department, user])
    db.flush()
    db.add(case)
    db.flush()
    assert isinstance(known_before, uuid.UUID)
    assert db.get(Case, known_before) is case


def test_emails_are_unique(db: Session) -> None:
    db.add(User(email="same@example.edu", display_name="One"))
    db.flush()
    db.add(User(email="same@example.edu", display_name="Two"))
    with pytest.raises(IntegrityError):
        db.flush()


def test_a_write_to_a_read_only_database_is_that_outage(engine: Engine, backend: str) -> None:
    """PostgreSQL refuses with InternalError (SQLSTATE 25006), SQLite with SQLITE_READONLY:
    the same outage either way, not a bug."""
    with engine.connect() as connection:
        try:
            read_only = (
                "SET TRANSACTION READ ONLY" if backend == "postgresql" else "PRAGMA query_only = ON"
            )
            connection.execute(text(read_only))
            with pytest.raises(DBAPIError) as refused:
                connection.execute(text("DELETE FROM departments WHERE code = 'none'"))
        finally:
            connection.invalidate()  # never back to the pool read-only
    assert outage(refused.value) is Outage.READ_ONLY


def test_a_write_that_does_not_fit_is_the_full_outage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'small.db'}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE filler (x BLOB)"))
        pages = connection.execute(text("PRAGMA page_count")).scalar()
        connection.execute(text(f"PRAGMA max_page_count = {pages}"))  # as if the disk were full
        with pytest.raises(OperationalError) as full:
            connection.execute(text("INSERT INTO filler VALUES (zeroblob(100000))"))
    engine.dispose()
    assert outage(full.value) is Outage.FULL
    # PostgreSQL's disk_full, as psycopg raises it:
    assert outage(OperationalError("INSERT", {}, psycopg.errors.DiskFull())) is Outage.FULL


def test_a_refused_connection_is_unreachable_and_a_bug_is_no_outage() -> None:
    dead = make_engine(Settings(), url="postgresql+psycopg://postgres@127.0.0.1:9/none")
    with pytest.raises(OperationalError) as refused:
        dead.connect()
    assert outage(refused.value) is Outage.UNREACHABLE
    corrupt = InternalError("SELECT", {}, psycopg.errors.DataCorrupted())
    assert outage(corrupt) is None


@pytest.mark.parametrize("leave", ["invalidate", "close"])
def test_a_writer_that_leaves_mid_transaction_gives_its_turn_back(tmp_path, leave: str) -> None:  # type: ignore[no-untyped-def]
    """SQLite writers of one process queue on a lock before BEGIN IMMEDIATE; a writer
    whose connection is invalidated or closed mid-transaction must not keep it."""
    engine = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'turns.db'}")
    connection = engine.connect()
    connection.begin()
    connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    if leave == "invalidate":
        connection.invalidate()
    connection.close()

    done = threading.Event()

    def next_writer() -> None:
        with session_scope(engine) as session:
            session.execute(text("CREATE TABLE IF NOT EXISTS u (x INTEGER)"))
        done.set()

    thread = threading.Thread(target=next_writer, daemon=True)
    thread.start()
    # Not a timing check: a kept turn would hold the next writer for the 30 s lock timeout.
    assert done.wait(timeout=10), "the next writer waited for a turn nobody held"
    engine.dispose()
