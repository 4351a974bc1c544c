"""Helpers for the audit tests: a signing key, fast chain seeding, and trigger bypass.

The audit tables refuse UPDATE and DELETE (migration 0002_audit). Tests that prove
verification catches tampering must first step around those triggers, as only someone
with the table owner's (or a superuser's) rights could.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from bgcheck.audit.chain import event_hash
from bgcheck.models import AuditChainHead, AuditEvent

from support.tamper import bypassing_triggers

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def tamper() -> Callable[[Session], AbstractContextManager[None]]:
    return bypassing_triggers


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def seed_events(session: Session, count: int, *, batch: int = 2000) -> int:
    """Append ``count`` valid events in bulk (much faster than ``record``); the last seq.

    Each event carries enough text that the whole trail is clearly larger than any
    one batch, which the memory test relies on.
    """
    head = session.get(AuditChainHead, 1)
    assert head is not None
    seq, prev = head.seq, head.hash
    table = AuditEvent.__table__
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        seq += 1
        row = {
            "seq": seq,
            "occurred_at": START + timedelta(seconds=seq),
            "actor_kind": "user",
            "actor_id": f"user-{seq % 17}",
            "action": "case.viewed" if seq % 3 else "=formula.lookalike",
            "target_type": "case",
            "target_id": f"case-{seq % 101}",
            "request_id": f"req-{seq:012d}",
            "data": {"note": "x" * 120, "n": seq},
            "prev_hash": prev,
        }
        row["hash"] = prev = event_hash(prev, row)
        rows.append(row)
        if len(rows) >= batch:
            session.execute(sa.insert(table), rows)
            rows = []
    if rows:
        session.execute(sa.insert(table), rows)
    session.execute(
        sa.update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=seq, hash=prev)
    )
    session.expire_all()
    return seq


@pytest.fixture(scope="session")
def seed() -> Callable[..., int]:
    return seed_events
