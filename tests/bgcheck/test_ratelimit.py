"""Counting per key in windows, shared through the database (``bgcheck.platform.ratelimit``)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bgcheck import audit
from bgcheck.models import AuditEvent, RateCounter, utcnow
from bgcheck.platform import ratelimit
from bgcheck.platform.db import session_scope

WINDOW = timedelta(minutes=1)


@pytest.fixture
def database(fresh_engine: Callable[[], Engine]) -> Engine:
    return fresh_engine()


def test_counts_within_a_window_then_starts_again(db: Session) -> None:
    now = utcnow()
    key = ratelimit.key("test", "counts")
    counts = [ratelimit.hit(db, key, window=WINDOW, now=now).count for _ in range(3)]
    assert counts == [1, 2, 3]
    first = ratelimit.hit(db, key, window=WINDOW, now=now + timedelta(seconds=10))
    assert first.window_ends_at == now + WINDOW
    assert first.retry_after(now + timedelta(seconds=10)) == 50
    later = ratelimit.hit(db, key, window=WINDOW, now=now + WINDOW + timedelta(seconds=1))
    assert (later.count, later.previous_count) == (1, 4)


def test_keys_count_apart(db: Session) -> None:
    now = utcnow()
    assert ratelimit.hit(db, ratelimit.key("a"), window=WINDOW, now=now).count == 1
    assert ratelimit.hit(db, ratelimit.key("b"), window=WINDOW, now=now).count == 1


def test_concurrent_hits_each_get_their_own_number(database: Engine) -> None:
    now = utcnow()
    key = ratelimit.key("test", "parallel")

    def one(_: int) -> int:
        with session_scope(database) as session:
            return ratelimit.hit(session, key, window=WINDOW, now=now).count

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = sorted(pool.map(one, range(40)))
    assert counts == list(range(1, 41))


def test_folded_events_are_recorded_once_per_window_and_counted(db: Session) -> None:
    now = utcnow()
    who = audit.AuditActor.system("tests")

    def refuse(at: timedelta) -> None:
        audit.record_folded(
            db,
            who,
            action="login.throttled",
            source="198.51.100.9",
            data={"address": "198.51.100.9"},
            window=WINDOW,
            now=now + at,
        )

    for second in range(5):
        refuse(timedelta(seconds=second))
    refuse(timedelta(minutes=2))
    recorded = db.exec(select(AuditEvent.data).where(AuditEvent.action == "login.throttled")).all()
    assert [event["folded"] for event in recorded] == [0, 4]


def test_purge_forgets_windows_that_ended_long_ago(db: Session) -> None:
    now = utcnow()
    ratelimit.hit(db, ratelimit.key("old"), window=WINDOW, now=now - timedelta(days=2))
    ratelimit.hit(db, ratelimit.key("new"), window=WINDOW, now=now)
    ratelimit.purge(db, now, older_than=timedelta(days=1))
    assert [row.key for row in db.exec(select(RateCounter)).all()] == [ratelimit.key("new")]
