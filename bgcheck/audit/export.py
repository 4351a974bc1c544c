"""Streaming exports of the audit trail: CSV for spreadsheets, JSON Lines for a SIEM.

Memory stays constant whatever the size. The generic writers below are generators that
hold one row at a time, fed in keyset batches on SQLite. On PostgreSQL the export takes
``bgcheck.audit.pgstream``'s fast path, which writes the same text from raw rows streamed
in windows of sequence numbers (a test compares the two).

**Filters.** ``since`` (inclusive) and ``until`` (exclusive) compare the event time;
``case_id`` (the event's target id), ``actor`` (actor id) and ``type`` (action, exact)
pick single events. A time window is a contiguous run of sequence numbers, because
events are stamped under the chain lock, so a time-range export verifies as a chain.
Should two hosts' clocks disagree across a window's edge, the run has holes: the export
is then marked filtered, like one that picks single events, which cannot be verified as
a chain (the JSONL header says ``"filtered": true``). Every export stops at the chain
head as it was when it began, so its events and checkpoints belong to one chain.

**The export's own event.** ``export`` records ``audit.exported`` (format, filters,
counts, seq range) in the caller's transaction *after* the last row is written: the
count is then exact, the export never contains its own event, and the chain head is
locked for an instant rather than for the whole export (which would stall every other
writer on PostgreSQL). An export that does not finish records nothing; it is logged,
and the caller's transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, cast

import sqlalchemy as sa
from sqlmodel import Session, col

from bgcheck.audit import pgstream
from bgcheck.audit.chain import STORED_FIELDS, canonical_json, event_body, format_time
from bgcheck.audit.selection import ExportFilters as ExportFilters
from bgcheck.audit.selection import ExportStats as ExportStats
from bgcheck.audit.selection import SeqRange as SeqRange
from bgcheck.audit.trail import (
    AuditActor,
    Target,
    iter_checkpoints,
    record,
)
from bgcheck.audit.verification import Item, merge
from bgcheck.models import AuditChainHead, AuditEvent, table_of, utcnow
from bgcheck.platform.errors import InvalidInput
from bgcheck.platform.logs import get_logger
from bgcheck.platform.spreadsheets import MEDIA_TYPE, CsvWriter, csv_line

Format = Literal["csv", "jsonl"]

MEDIA_TYPES: Final[Mapping[Format, str]] = {
    "csv": MEDIA_TYPE,
    "jsonl": "application/jsonl; charset=utf-8",
}
EXPORT_FORMAT: Final = "bgcheck.audit.export"
EXPORT_VERSION: Final = 1
CSV_COLUMNS: Final = STORED_FIELDS
DEFAULT_BATCH: Final = 1000
CHUNK_CHARS: Final = 64 * 1024  # what ``coalesced`` gathers before writing

log = get_logger(__name__)


def seq_range(session: Session, filters: ExportFilters) -> SeqRange:
    """The seq range the time window covers, capped at the chain head as it is now."""
    table = table_of(AuditEvent)
    head = session.execute(sa.select(col(AuditChainHead.seq)).where(col(AuditChainHead.id) == 1))
    window = [table.c.seq <= (head.scalar_one_or_none() or 0), *_time_window(filters)]
    bounds = sa.select(sa.func.min(table.c.seq), sa.func.max(table.c.seq))
    first, last = session.execute(bounds.where(*window)).one()
    if first is None:
        return SeqRange(1, 0)
    if filters.since is None and filters.until is None:
        return SeqRange(first, last)  # the primary key alone: no count of the whole table
    in_window = session.execute(sa.select(sa.func.count()).where(*window)).scalar_one()
    in_range = sa.select(sa.func.count()).where(table.c.seq.between(first, last))
    return SeqRange(first, last, by_time=session.execute(in_range).scalar_one() != in_window)


def _time_window(filters: ExportFilters) -> list[sa.ColumnElement[bool]]:
    occurred_at = table_of(AuditEvent).c.occurred_at
    window = []
    if filters.since is not None:
        window.append(occurred_at >= filters.since)
    if filters.until is not None:
        window.append(occurred_at < filters.until)
    return window


def stream_events(
    session: Session, filters: ExportFilters, span: SeqRange, *, batch: int = DEFAULT_BATCH
) -> Iterator[Mapping[str, Any]]:
    """The events to export, in sequence order, without holding more than one batch."""
    table = table_of(AuditEvent)
    conditions = [table.c.seq >= span.first, table.c.seq <= span.last]
    if span.by_time:
        conditions.extend(_time_window(filters))
    if filters.case_id is not None:
        conditions.append(table.c.target_id == filters.case_id)
    if filters.actor is not None:
        conditions.append(table.c.actor_id == filters.actor)
    if filters.type is not None:
        conditions.append(table.c.action == filters.type)
    if span.first > span.last:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        statement = (
            sa.select(table)
            .where(*conditions)
            .order_by(table.c.seq)
            .execution_options(stream_results=True, yield_per=batch)
        )
        result = connection.execute(statement)
        try:
            # RowMapping is typed Mapping[str | Column, Any], and Mapping's key type is
            # invariant: mypy will not take it as Mapping[str, Any], though every lookup
            # made of these rows is by name. Here and below.
            yield from cast(Iterable[Mapping[str, Any]], result.mappings())
        finally:
            result.close()  # an abandoned export frees its server-side cursor now
        return
    after = span.first - 1
    while True:  # SQLite: keyset batches
        statement = (
            sa.select(table)
            .where(*conditions, table.c.seq > after)
            .order_by(table.c.seq)
            .limit(batch)
        )
        rows = connection.execute(statement).mappings().all()
        if not rows:
            return
        yield from cast(Sequence[Mapping[str, Any]], rows)
        after = rows[-1]["seq"]


def stream_items(
    session: Session,
    filters: ExportFilters,
    span: SeqRange,
    *,
    checkpoints: bool,
    batch: int = DEFAULT_BATCH,
) -> Iterator[Item]:
    """Events, and with ``checkpoints`` the checkpoints of the range (plus the one just
    before it, which anchors the range's first link), each after the event it signs."""
    events = stream_events(session, filters, span, batch=batch)
    if not checkpoints:
        yield from (("event", event) for event in events)
        return
    signed = iter_checkpoints(session, after=span.first - 2, through=span.last, batch=batch)
    yield from merge(events, signed)


def csv_row(event: Mapping[str, Any]) -> list[str]:
    """One event as CSV cells: UTC ISO-8601 times, ``data`` as compact JSON.

    The cells as stored; the writer (``bgcheck.platform.spreadsheets``) neutralizes formulas.
    """
    body = event_body(event)
    cells = {**body, "data": canonical_json(body["data"])}
    cells["prev_hash"], cells["hash"] = event["prev_hash"], event["hash"]
    return ["" if cells[c] is None else str(cells[c]) for c in CSV_COLUMNS]


def csv_lines(items: Iterable[Item]) -> Iterator[str]:
    """The header row, then one CSV line (CRLF, RFC 4180) per event; checkpoints skipped."""
    writer = CsvWriter()
    yield csv_header()
    for kind, row in items:
        if kind == "event":
            writer.write(csv_row(row))
            yield writer.drain()


def csv_header() -> str:
    return csv_text(CSV_COLUMNS)


def csv_text(cells: Iterable[str]) -> str:
    """One CSV line (RFC 4180: CRLF, quotes where needed, formulas neutralized)."""
    return csv_line(cells)


def coalesced(chunks: Iterator[str], *, size: int = CHUNK_CHARS) -> Iterator[str]:
    """The same text in pieces of about ``size`` characters (the first one at once, so
    the first byte is not delayed): one write, and one hop to a worker thread in a
    streamed HTTP response, per piece rather than per line. Closing this closes
    ``chunks``."""
    try:
        first = next(chunks, None)
        if first is None:
            return
        yield first
        pending: list[str] = []
        length = 0
        for chunk in chunks:
            pending.append(chunk)
            length += len(chunk)
            if length >= size:
                yield "".join(pending)
                pending, length = [], 0
        if pending:
            yield "".join(pending)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def jsonl_header(filters: ExportFilters, span: SeqRange, exported_at: datetime) -> str:
    """The first line: what was asked for. Informational: it is not signed."""
    return canonical_json(
        {
            "kind": "export",
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": format_time(exported_at),
            "filters": filters.as_data(),
            "filtered": filters.filtered or span.by_time,
            "seq_from": span.first,
            "seq_through": span.last,
        }
    )


def jsonl_record(kind: str, row: Mapping[str, Any]) -> str:
    """One event (every hashed field plus ``prev_hash`` and ``hash``) or one checkpoint."""
    if kind == "event":
        line = {"kind": "event", **event_body(row), "prev_hash": row["prev_hash"]}
        line["hash"] = row["hash"]
    else:
        line = {
            "kind": "checkpoint",
            "seq": row["seq"],
            "hash": row["hash"],
            "signed_at": format_time(row["signed_at"]),
            "key_id": row["key_id"],
            "signature": row["signature"],
        }
    return canonical_json(line)


def jsonl_lines(items: Iterable[Item], *, header: str) -> Iterator[str]:
    yield header + "\n"
    for kind, row in items:
        yield jsonl_record(kind, row) + "\n"


def export(
    session: Session,
    actor: AuditActor,
    *,
    fmt: Format,
    filters: ExportFilters,
    request_id: str | None = None,
    stats: ExportStats | None = None,
    batch: int = DEFAULT_BATCH,
) -> Iterator[str]:
    """The whole export as text chunks; after the last one, records ``audit.exported``.

    The caller owns the transaction and commits once the generator is exhausted (see the
    module docstring): ``with session_scope(engine) as s: out.writelines(export(s, …))``.
    ``stats``, when given, counts what was written.
    """
    if fmt not in MEDIA_TYPES:
        raise InvalidInput("format must be csv or jsonl")
    span = seq_range(session, filters)
    stats = stats if stats is not None else ExportStats()
    lines = _lines(session, fmt, filters, span, stats, batch=batch)
    log.info("audit export started", format=fmt, filtered=filters.filtered or span.by_time)
    try:
        yield from lines
    except GeneratorExit:
        log.warning("audit export abandoned", format=fmt, events=stats.events)
        raise
    record(
        session,
        actor,
        action="audit.exported",
        target=Target.of("case", filters.case_id) if filters.case_id else None,
        data={
            "format": fmt,
            "filters": filters.as_data(),
            "events": stats.events,
            "checkpoints": stats.checkpoints,
            "seq_from": span.first,
            "seq_through": span.last,
        },
        request_id=request_id,
    )


def _lines(
    session: Session,
    fmt: Format,
    filters: ExportFilters,
    span: SeqRange,
    stats: ExportStats,
    *,
    batch: int,
) -> Iterator[str]:
    """The export's text: PostgreSQL's fast path (``pgstream``), or the generic writers.

    Both write the same text (a test compares them); the fast path renders from raw
    tuples and is four to five times faster on a large trail (docs/audit.md).
    """
    if session.connection().dialect.name == "postgresql":
        if fmt == "csv":
            return pgstream.csv_chunks(
                session,
                filters,
                span,
                header=csv_header(),
                exact=lambda event: csv_text(csv_row(event)),
                stats=stats,
            )

        def signed(low: int, high: int) -> list[tuple[int, str]]:
            found = iter_checkpoints(session, after=low - 1, through=high, batch=batch)
            return [(c["seq"], jsonl_record("checkpoint", c) + "\n") for c in found]

        return pgstream.jsonl_chunks(
            session,
            filters,
            span,
            header=jsonl_header(filters, span, utcnow()),
            checkpoints=signed,
            exact=lambda event: jsonl_record("event", event),
            stats=stats,
        )
    items = _counted(
        stream_items(session, filters, span, checkpoints=fmt == "jsonl", batch=batch), stats
    )
    if fmt == "csv":
        return csv_lines(items)
    return jsonl_lines(items, header=jsonl_header(filters, span, utcnow()))


def _counted(items: Iterable[Item], stats: ExportStats) -> Iterator[Item]:
    for item in items:
        if item[0] == "event":
            stats.events += 1
        else:
            stats.checkpoints += 1
        yield item
