"""Counting what happens per key in fixed windows, shared by every process through the
database: searches per user (a limit), and anonymous audit noise folded into one event
per window (``bgcheck.audit.record_folded``).

A count is one atomic upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), so
concurrent requests each see their own number and none slips past a limit. Keys are
SHA-256 hashes: the table never holds an address or a user id in clear.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from bgcheck.models import RateCounter, table_of


@dataclass(frozen=True, slots=True)
class Count:
    """This hit's number in its window, when the window ends, and the last window's total."""

    count: int
    window_ends_at: datetime
    previous_count: int

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the window ends (at least 1), for ``Retry-After``."""
        return max(1, math.ceil((self.window_ends_at - now).total_seconds()))


def key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def hit(session: Session, counter_key: str, *, window: timedelta, now: datetime) -> Count:
    """Count one event for ``counter_key``: a new window starts when the last one ended."""
    table = table_of(RateCounter)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    window_open = table.c.window_started_at > now - window
    statement = (
        insert(table)
        .values(key=counter_key, window_started_at=now, count=1, previous_count=0)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            # Each right-hand side reads the row as it was before this update.
            set_={
                "count": case((window_open, table.c.count + 1), else_=1),
                "window_started_at": case((window_open, table.c.window_started_at), else_=now),
                "previous_count": case((window_open, table.c.previous_count), else_=table.c.count),
            },
        )
        .returning(table.c.count, table.c.window_started_at, table.c.previous_count)
    )
    count, started_at, previous = session.execute(statement).one()
    return Count(count, started_at + window, previous)


def purge(session: Session, now: datetime, *, older_than: timedelta) -> None:
    """Forget counters whose window ended long ago (run hourly by the worker)."""
    session.execute(
        delete(RateCounter).where(col(RateCounter.window_started_at) < now - older_than)
    )
