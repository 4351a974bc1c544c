"""The audit trail for auditors and managers: streamed exports, verification, and the
CORI dissemination log (docs/audit.md).

The exports are streamed. The request's own session commits before the body is sent, so
each export opens its own unit of work inside the body's generator: it reads, writes the
rows, records the export's audit event after the last one and commits. Everything that
can be refused (roles, filters) is checked before the first byte, so a refusal is still
an ordinary problem+json answer; only a failure mid-stream can cut the body short (the
JSONL header's ``seq_through`` shows it).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import iterate_in_threadpool

from api.deps import AppEngine, CaseCtx, CurrentReader, ReadSession, permit
from api.errors import problems
from api.schemas.audit import AuditVerification
from api.schemas.times import IsoTime
from bgcheck import audit
from bgcheck.audit import export as exports
from bgcheck.db import session_scope
from bgcheck.models import utcnow
from bgcheck.policy import Action
from bgcheck.queries.dissemination import DisseminationFilter
from bgcheck.services import dissemination

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

Format = Literal["csv", "jsonl"]
STREAMED: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The export, streamed (`Content-Disposition: attachment`).",
        "content": {media_type.split(";")[0]: {} for media_type in exports.MEDIA_TYPES.values()},
    },
    **problems(401, 403, 422),
}
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
        since=_utc(since),
        until=_utc(until),
        case_id=str(case_id) if case_id else None,
        actor=actor_id,
        type=type,
    )
    who, request_id = actor.audit_actor, _request_id(request)
    return _streamed(
        engine,
        lambda session: exports.export(
            session, who, fmt=format, filters=filters, request_id=request_id
        ),
        fmt=format,
        name="audit",
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
    public_key = ctx.vault.keyring.audit_signing_key().public_key()
    return AuditVerification.of(audit.verify(db, public_keys=[public_key]))


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
    filters = DisseminationFilter(since=_utc(since), until=_utc(until), case_id=case_id)
    who, request_id = actor.audit_actor, _request_id(request)
    return _streamed(
        engine,
        lambda session: dissemination.export(
            session, who, fmt=format, filters=filters, request_id=request_id
        ),
        fmt=format,
        name="cori-dissemination",
    )


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is UTC, as on the command line."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _streamed(
    engine: Engine, produce: Callable[[Session], Iterator[str]], *, fmt: Format, name: str
) -> StreamingResponse:
    """``produce``'s text in ~64 KiB pieces, inside a unit of work of its own."""

    def body() -> Generator[str, None, None]:
        with session_scope(engine) as session:
            yield from exports.coalesced(produce(session))

    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        _in_threads(body()),
        media_type=exports.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="bgcheck-{name}-{stamp}.{fmt}"'},
    )


async def _in_threads(chunks: Generator[str, None, None]) -> AsyncIterator[str]:
    """Each piece is produced in a worker thread (database reads block). When the client
    goes away the generator is closed there too, at once: its transaction rolls back, no
    audit event is recorded, and the server-side cursor is freed."""
    try:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(chunks.close)
