"""Streaming the audit trail and the CORI dissemination log as downloads, for the API's
routes and the auditor's page alike (so a page export is exactly an API export).

The request's own session commits before the body is sent, so each export opens its own
unit of work inside the body's generator: it reads, writes the rows, records the export's
audit event after the last one and commits. Everything that can be refused (roles,
filters) is checked before the first byte, so a refusal is still an ordinary answer; only
a failure mid-stream can cut the body short (the JSONL header's ``seq_through`` shows it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator
from datetime import UTC, datetime
from typing import Any, Final, Literal

import anyio
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import iterate_in_threadpool

from api.errors import problems
from bgcheck import audit
from bgcheck.audit import dissemination
from bgcheck.audit import export as exports
from bgcheck.audit.dissemination_queries import DisseminationFilter
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope

Format = Literal["csv", "jsonl"]
# The answers of a download route, as OpenAPI documents them (tests/api/test_csv_exports.py
# finds every route that serves CSV by this).
STREAMED: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The export, streamed (`Content-Disposition: attachment`).",
        "content": {media_type.split(";")[0]: {} for media_type in exports.MEDIA_TYPES.values()},
    },
    **problems(401, 403, 422),
}


def audit_events(
    engine: Engine,
    who: audit.AuditActor,
    *,
    fmt: Format,
    filters: exports.ExportFilters,
    request_id: str | None,
) -> StreamingResponse:
    """The audit trail; the export is itself an audit event."""
    return _streamed(
        engine,
        lambda session: exports.export(
            session, who, fmt=fmt, filters=filters, request_id=request_id
        ),
        fmt=fmt,
        name="audit",
    )


def dissemination_log(
    engine: Engine,
    who: audit.AuditActor,
    *,
    fmt: Format,
    filters: DisseminationFilter,
    request_id: str | None,
) -> StreamingResponse:
    """The CORI dissemination log; the export is itself an audit event."""
    return _streamed(
        engine,
        lambda session: dissemination.export(
            session, who, fmt=fmt, filters=filters, request_id=request_id
        ),
        fmt=fmt,
        name="cori-dissemination",
    )


def utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is UTC, as on the command line."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


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
