"""Engines and sessions for SQLite (embedded) and PostgreSQL (production).

Services never commit: the request or the job that owns a session commits once.

SQLite write transactions start with ``BEGIN IMMEDIATE``. A deferred transaction that
reads and then writes fails with SQLITE_BUSY_SNAPSHOT (no waiting) when another
connection committed in between; taking the write lock up front makes writers queue
on ``busy_timeout`` instead. Read-only work can opt out with ``read_only=True``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bgcheck.errors import BgcheckError
from bgcheck.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "bgcheck_read_only"


def make_engine(settings: Settings, *, url: str | None = None) -> Engine:
    url = url or settings.sqlalchemy_url
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
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

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


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
