"""The job registry: every outbox kind has a handler, and the database refuses others."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from bgcheck import jobs
from bgcheck.models import JobKind, OutboxJob, utcnow
from bgcheck.platform import worker


def test_the_registry_is_complete() -> None:
    jobs.check_registry()
    assert set(jobs.OUTBOX) == set(JobKind)


def test_a_kind_without_a_handler_fails_the_check() -> None:
    outbox = dict(jobs.OUTBOX)
    del outbox[JobKind.VENDOR_SYNC]
    with pytest.raises(TypeError, match="vendor_sync"):
        jobs.check_registry(jobs.PERIODIC, outbox)


def test_a_job_registered_twice_fails_the_check() -> None:
    twice = (*jobs.PERIODIC, worker.Job("case-timers", 5, lambda session: None))
    with pytest.raises(TypeError, match="case-timers"):
        jobs.check_registry(twice, jobs.OUTBOX)


def test_the_database_refuses_an_unknown_kind(db: Session) -> None:
    # Plain columns: the model's enum type would refuse the value before the database.
    columns = OutboxJob.__table__.columns  # type: ignore[attr-defined]
    outbox = sa.table(
        "outbox", *(sa.column(c.name, sa.String() if c.name == "kind" else c.type) for c in columns)
    )
    with pytest.raises(sa.exc.IntegrityError, match="ck_outbox_job_kind"), db.begin_nested():
        db.execute(sa.insert(outbox).values(ROW))


ROW = {
    "id": uuid.uuid4(),
    "case_id": uuid.uuid4(),
    "kind": "vendor_teleport",
    "idempotency_key": "vendor_teleport:1",
    "created_at": utcnow(),
    "available_at": utcnow(),
    "attempts": 0,
    "status": "pending",
}
