"""Login throttling, kept in the database so that every API process sees the same counts.

Failures are counted per account and per client address within a window. Past
``slow_after`` failures each further attempt must wait (1 s, 2 s, 4 s, …); at
``max_failures`` the key is blocked for ``block``. An attempt is counted before it is
checked (``reserve``), then settled as wrong or given back as right. Keys are SHA-256
hashes, so the table never holds what someone typed as a user name (often a password
typed in the wrong box).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from bgcheck.models import LoginThrottle, table_of


@dataclass(frozen=True, slots=True)
class Policy:
    max_failures: int
    slow_after: int
    window: timedelta
    block: timedelta


def key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def wait_time(session: Session, keys: Iterable[str], now: datetime) -> timedelta | None:
    """How long the caller must still wait, or None when no key is blocked."""
    waits = [
        row.blocked_until - now
        for k in keys
        if (row := session.get(LoginThrottle, k)) is not None
        and row.blocked_until is not None
        and row.blocked_until > now
    ]
    return max(waits) if waits else None


def reserve(session: Session, throttle_key: str, policy: Policy, now: datetime) -> bool:
    """Count an attempt as a failure before checking it; False when it is over the limit.

    Counting after the (slow) check let parallel guesses all pass the "blocked?" read
    before any failure was written: 6 of 24 parallel wrong passwords got through a limit
    of 5. Reserved first in one atomic upsert, at most ``max_failures`` attempts per window
    are ever checked. Then ``settle`` a wrong attempt, or ``release`` a right one.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = table_of(LoginThrottle)
    window_open = table.c.window_started_at > now - policy.window
    statement = insert(table).values(key=throttle_key, failures=1, window_started_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "failures": case((window_open, table.c.failures + 1), else_=1),
            "window_started_at": case((window_open, table.c.window_started_at), else_=now),
        },
    )
    failures: int = session.execute(statement.returning(table.c.failures)).scalar_one()
    if failures > policy.max_failures:
        _block(session, throttle_key, now + policy.block)
        return False
    return True


def settle(session: Session, throttle_key: str, policy: Policy, now: datetime) -> None:
    """A reserved attempt was wrong: slow the key down (1 s, 2 s, 4 s…) past
    ``slow_after`` failures, and block it for ``block`` at ``max_failures``."""
    row = session.get(LoginThrottle, throttle_key, populate_existing=True)
    if row is None:  # purged meanwhile: nothing to slow down
        return
    if row.failures >= policy.max_failures:
        _block(session, throttle_key, now + policy.block)
    elif row.failures > policy.slow_after:
        delay = timedelta(seconds=2 ** (row.failures - policy.slow_after - 1))
        _block(session, throttle_key, now + delay)


def release(session: Session, throttle_key: str) -> None:
    """A reserved attempt was right: give its count back."""
    table = table_of(LoginThrottle)
    session.execute(
        update(table)
        .where(table.c.key == throttle_key, table.c.failures > 0)
        .values(failures=table.c.failures - 1)
    )


def _block(session: Session, throttle_key: str, until: datetime) -> None:
    table = table_of(LoginThrottle)
    session.execute(update(table).where(table.c.key == throttle_key).values(blocked_until=until))


def clear(session: Session, throttle_key: str) -> None:
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == throttle_key))


def purge(session: Session, now: datetime, older_than: timedelta) -> None:
    """Forget windows that ended long ago (run by the worker)."""
    session.execute(
        delete(LoginThrottle).where(
            col(LoginThrottle.window_started_at) < now - older_than,
            (col(LoginThrottle.blocked_until).is_(None)) | (col(LoginThrottle.blocked_until) < now),
        )
    )
