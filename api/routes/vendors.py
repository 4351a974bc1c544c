"""The vendor's side door: signed webhooks, and the outbox for administrators."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from api.deps import CurrentActor, DbSession, ReadSession, permit
from api.errors import problems
from bgcheck.models import JobStatus, OutboxJob, utcnow
from bgcheck.platform.errors import NotFound
from bgcheck.policy import Action
from bgcheck.vendors import orders as vendor_orders
from bgcheck.vendors.orders import Desk

router = APIRouter(prefix="/api/v1", tags=["vendors"])


async def get_desk(request: Request) -> Desk:
    desk: Desk = request.app.state.vendors
    return desk


async def raw_body(request: Request) -> bytes:
    # The signature covers the exact bytes sent: read them before anything parses them.
    return await request.body()


class WebhookAnswer(BaseModel):
    outcome: Literal["queued", "unknown_order", "duplicate"]


@router.post(
    "/vendors/{vendor}/webhook",
    responses=problems(401, 404, 413, 422),
    summary="A signed notice from the screening vendor",
)
def vendor_webhook(
    vendor: str,
    request: Request,
    db: DbSession,
    desk: Annotated[Desk, Depends(get_desk)],
    body: Annotated[bytes, Depends(raw_body)],
) -> WebhookAnswer:
    """Verified (Standard Webhooks signature, 5-minute window), deduplicated by delivery
    id, then answered at once: the order is re-fetched from the vendor by the worker before
    anything changes. A repeat delivery or an unknown order is answered 200 so the vendor
    stops retrying; an unsigned, wrongly signed or stale one is 401."""
    if vendor != desk.vendor_id:
        raise NotFound("no such vendor")
    outcome = vendor_orders.receive_webhook(
        db, desk, headers=dict(request.headers), body=body, now=utcnow()
    )
    return WebhookAnswer(outcome=outcome)  # type: ignore[arg-type]


class JobRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    status: JobStatus
    attempts: int
    created_at: datetime
    available_at: datetime
    done_at: datetime | None
    last_error: str | None


def _job(row: OutboxJob) -> JobRead:
    return JobRead.model_validate(row, from_attributes=True)


@router.get(
    "/admin/jobs",
    dependencies=[permit(Action.MANAGE_JOBS, read_only=True)],
    responses=problems(401, 403, 422),
)
def list_jobs(
    db: ReadSession,
    status: Annotated[JobStatus | None, Query(description="Default: all but done.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[JobRead]:
    """The outbox: jobs waiting or retrying, and dead ones (given up after the last
    attempt) that need a person. No PII: kinds, case ids and error classes."""
    return [_job(row) for row in vendor_orders.jobs(db, status, limit)]


@router.post(
    "/admin/jobs/{job_id}/retry",
    dependencies=[permit(Action.MANAGE_JOBS)],
    responses=problems(401, 403, 404, 422),
)
def retry_job(job_id: uuid.UUID, db: DbSession, actor: CurrentActor) -> JobRead:
    """Send a dead job back to the queue with a fresh set of attempts (audited)."""
    job = vendor_orders.retry_dead(db, actor.audit_actor, job_id, utcnow())
    db.flush()
    return _job(job)
