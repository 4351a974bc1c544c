"""Engines and sessions for SQLite (embedded) and PostgreSQL (production).

Services never commit: the request or the job that owns a session commits once.

SQLite write transactions start with ``BEGIN IMMEDIATE``. A deferred transaction that
reads and then writes fails with SQLITE_BUSY_SNAPSHOT (no waiting) when another
connection committed in between; taking the write lock up front makes writers queue
on ``busy_timeout`` instead. Read-only work can opt out with ``read_only=True``.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session

from bgcheck.platform.errors import BgcheckError
from bgcheck.platform.private_files import private_dir, private_file, tighten
from bgcheck.platform.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
READ_ONLY = "bgcheck_read_only"


def make_engine(settings: Settings, *, url: str | None = None) -> Engine:
    url = url or settings.sqlalchemy_url
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # A host that drops packets, rather than refusing, would otherwise hang each request.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
    )


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    # A ``file:`` URI (``sqlite:///file:…?mode=ro&uri=true``) names no folder to create.
    if database and database != ":memory:" and not database.startswith("file:"):
        _private_database(Path(database))
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    # Writers of this process queue on a lock before ``BEGIN IMMEDIATE``. SQLite's own
    # busy handler sleeps in growing steps (up to 100 ms) and so lets waiting writers miss
    # their turn: under load, writes' p99 was about a second with it, 50 ms with the lock
    # (bench/results). Other processes still queue on ``busy_timeout``. A plain Lock, not
    # an RLock: a request may begin and commit its transaction on different threads.
    writer = _WriterLock()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        dbapi_connection = connection.connection.dbapi_connection
        if not read_only:
            writer.take(dbapi_connection)
        try:
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
        except BaseException:
            writer.give_back(dbapi_connection)
            raise

    def _on_end(connection: Connection) -> None:
        if not connection.invalidated:  # else the pool's "invalidate" gave the turn back
            writer.give_back(connection.connection.dbapi_connection)

    event.listen(engine, "commit", _on_end)
    event.listen(engine, "rollback", _on_end)
    # A connection invalidated or returned to the pool mid-transaction never sends
    # COMMIT or ROLLBACK through the engine: the pool's events give its turn back.
    event.listen(
        engine, "invalidate", lambda dbapi_connection, *_: writer.give_back(dbapi_connection)
    )
    event.listen(engine, "checkin", lambda dbapi_connection, *_: writer.give_back(dbapi_connection))
    return engine


def _private_database(path: Path) -> None:
    """The folder 0700 and the database 0600 before SQLite first opens it: SQLite creates
    its ``-wal`` and ``-shm`` files with the database file's mode. Those of an older
    version (0644) are tightened too."""
    private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + suffix))


class _WriterLock:
    """One writer at a time in this process, remembered by its DBAPI connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: int | None = None

    def take(self, dbapi_connection: object) -> None:
        # Bounded: should a turn ever leak, writers fall back on SQLite's busy_timeout.
        if self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            self._holder = id(dbapi_connection)

    def give_back(self, dbapi_connection: object) -> None:
        if self._holder is not None and self._holder == id(dbapi_connection):
            self._holder = None
            self._lock.release()


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back otherwise.

    An error that ``keeps_changes`` (a failed login's audit event) commits, then re-raises.
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            if read_only:
                session.rollback()
            else:
                session.commit()
        except BgcheckError as exc:
            if exc.keeps_changes and not read_only:
                session.commit()
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        connection.execute(text("SELECT 1"))


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class Outage(enum.StrEnum):
    """Why the database cannot do a request's work now, through no fault of the request."""

    UNREACHABLE = "unreachable"  # down, restarting, the connection lost, locked too long
    READ_ONLY = "read-only"  # a read-only database, file or filesystem; reads still work
    FULL = "full"  # out of disk space; reads still work


_READ_ONLY_SQLSTATES: Final = frozenset({"25006"})  # PostgreSQL read_only_sql_transaction
_FULL_SQLSTATES: Final = frozenset({"53100"})  # PostgreSQL disk_full


def outage(exc: DBAPIError) -> Outage | None:
    """The outage behind a driver error, or None when the error is not one (a bug).

    psycopg and sqlite3 both raise ``OperationalError`` (or ``InterfaceError``) for a
    refused or lost connection, a full disk and a read-only SQLite file. A write refused
    by a read-only PostgreSQL database (``default_transaction_read_only``, a hot standby)
    is an ``InternalError`` with SQLSTATE 25006, which would otherwise pass for a bug.
    """
    sqlstate = getattr(exc.orig, "sqlstate", None)
    sqlite_name = str(getattr(exc.orig, "sqlite_errorname", ""))
    if sqlstate in _READ_ONLY_SQLSTATES or sqlite_name.startswith("SQLITE_READONLY"):
        return Outage.READ_ONLY
    if sqlstate in _FULL_SQLSTATES or sqlite_name == "SQLITE_FULL":
        return Outage.FULL
    if isinstance(exc, OperationalError | InterfaceError):
        return Outage.UNREACHABLE
    return None
