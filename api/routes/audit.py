"""The audit trail for auditors and managers: streamed exports (``api.downloads``),
verification, and the CORI dissemination log (docs/audit.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api import downloads
from api.deps import AppEngine, CaseCtx, CurrentReader, ReadSession, permit
from api.downloads import STREAMED, Format, utc
from api.errors import problems
from api.schemas.audit import AuditVerification
from api.schemas.times import IsoTime
from bgcheck import audit
from bgcheck.audit import export as exports
from bgcheck.audit.dissemination_queries import DisseminationFilter
from bgcheck.policy import Action

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

FormatQuery = Annotated[
    Format, Query(description="`csv` for spreadsheets, `jsonl` for a SIEM and offline checks.")
]
Since = Annotated[
    IsoTime | None, Query(description="From this ISO-8601 time, inclusive (no zone: UTC).")
]
Until = Annotated[
    IsoTime | None, Query(description="Before this ISO-8601 time, exclusive (no zone: UTC).")
]


@router.get(
    "/events",
    dependencies=[permit(Action.EXPORT_AUDIT, read_only=True)],
    response_class=StreamingResponse,
    responses=STREAMED,
)
def export_events(
    request: Request,
    engine: AppEngine,
    actor: CurrentReader,
    format: FormatQuery = "jsonl",
    since: Since = None,
    until: Until = None,
    case_id: Annotated[uuid.UUID | None, Query(description="Only events about this case.")] = None,
    actor_id: Annotated[
        str | None,
        Query(alias="actor", min_length=1, max_length=64, description="Only this actor's events."),
    ] = None,
    type: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Only this event type (`case.clear`)."),
    ] = None,
) -> StreamingResponse:
    """The audit trail as CSV or JSON Lines; the export is itself an audit event.

    `case_id`, `actor` and `type` pick single events, so such an export cannot be verified
    as a chain; `since`/`until` alone keep it verifiable offline
    (`bgcheck audit verify --file … --public-key …`).
    """
    filters = exports.ExportFilters(
        since=utc(since),
        until=utc(until),
        case_id=str(case_id) if case_id else None,
        actor=actor_id,
        type=type,
    )
    return downloads.audit_events(
        engine,
        actor.audit_actor,
        fmt=format,
        filters=filters,
        request_id=getattr(request.state, "request_id", None),
    )


@router.get(
    "/verify",
    dependencies=[permit(Action.VERIFY_AUDIT, read_only=True)],
    responses=problems(401, 403),
)
def verify(db: ReadSession, ctx: CaseCtx) -> AuditVerification:
    """Recompute the chain and check every checkpoint signature and the chain head.

    A broken chain is still a `200`: the answer is the finding (`ok: false`, the first
    bad sequence number and why).
    """
    return AuditVerification.of(audit.verify_signed(db, ctx.vault.keyring))


@router.get(
    "/dissemination",
    dependencies=[permit(Action.READ_DISSEMINATION_LOG, read_only=True)],
    response_class=StreamingResponse,
    responses=STREAMED,
)
def export_dissemination(
    request: Request,
    engine: AppEngine,
    actor: CurrentReader,
    format: FormatQuery = "jsonl",
    since: Since = None,
    until: Until = None,
    case_id: Annotated[
        uuid.UUID | None, Query(description="Only releases of this case's record.")
    ] = None,
) -> StreamingResponse:
    """The CORI secondary dissemination log (803 CMR 2.00): when, whose record (case id),
    what, to whom, their relationship, why, and who released it. No PII. The export is
    itself an audit event."""
    filters = DisseminationFilter(since=utc(since), until=utc(until), case_id=case_id)
    return downloads.dissemination_log(
        engine,
        actor.audit_actor,
        fmt=format,
        filters=filters,
        request_id=getattr(request.state, "request_id", None),
    )
