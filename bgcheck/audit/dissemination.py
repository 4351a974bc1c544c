"""The CORI secondary dissemination log: every release of criminal-record information.

Called wherever a report or a notice quoting it reaches someone: a notice issued to the
candidate, a reviewer opening the report or the notices. Each entry is also an audit
event, so the log is as tamper-evident as the trail. ``export`` streams the log for
auditors and managers, and is itself audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bgcheck import audit
from bgcheck.audit import export as exports
from bgcheck.audit.chain import canonical_json, format_time
from bgcheck.audit.dissemination_queries import (
    COLUMNS,
    DEFAULT_BATCH,
    DisseminationFilter,
    iter_entries,
)
from bgcheck.models import Dissemination
from bgcheck.platform.errors import InvalidInput
from bgcheck.platform.logs import get_logger
from bgcheck.platform.spreadsheets import CsvWriter

log = get_logger(__name__)


def record_staff_read(
    session: Session, reader: audit.AuditActor, *, case_id: uuid.UUID, what: str, now: datetime
) -> Dissemination:
    """A reviewer or manager opened CORI (the report, the notices) to adjudicate."""
    return record(
        session,
        reader,
        case_id=case_id,
        recipient=reader.id or reader.kind,
        relationship="EM background-check staff",
        purpose="adjudication of the background check",
        what=what,
        now=now,
    )


def record(
    session: Session,
    released_by: audit.AuditActor,
    *,
    case_id: uuid.UUID,
    recipient: str,
    relationship: str,
    purpose: str,
    what: str,
    now: datetime,
) -> Dissemination:
    entry = Dissemination(
        case_id=case_id,
        released_at=now,
        recipient=recipient,
        relationship=relationship,
        purpose=purpose,
        released_by=released_by.id or released_by.kind,
        what=what,
    )
    session.add(entry)
    audit.record(
        session,
        released_by,
        action="cori.disseminated",
        target=audit.Target.of("case", case_id),
        data={"recipient": recipient, "relationship": relationship, "what": what},
        now=now,
    )
    return entry


def export(
    session: Session,
    actor: audit.AuditActor,
    *,
    fmt: exports.Format,
    filters: DisseminationFilter,
    request_id: str | None = None,
    stats: ExportedEntries | None = None,
    batch: int = DEFAULT_BATCH,
) -> Iterator[str]:
    """The log as CSV or JSON Lines text chunks; after the last one, records
    ``cori.log_exported``.

    Like the audit export (``bgcheck.audit.export``): the caller owns the transaction and
    commits once the generator is exhausted; an export that does not finish records
    nothing. The log holds no PII (case ids, user ids or ``candidate``, relationships,
    purposes), so nothing is masked.
    """
    if fmt not in exports.MEDIA_TYPES:
        raise InvalidInput("format must be csv or jsonl")
    stats = stats if stats is not None else ExportedEntries()
    rows = iter_entries(session, filters, batch=batch)
    lines = _csv_lines(rows, stats) if fmt == "csv" else _jsonl_lines(rows, stats)
    log.info("dissemination log export started", format=fmt)
    try:
        yield from lines
    except GeneratorExit:
        log.warning("dissemination log export abandoned", format=fmt, entries=stats.entries)
        raise
    audit.record(
        session,
        actor,
        action="cori.log_exported",
        target=audit.Target.of("case", filters.case_id) if filters.case_id else None,
        data={"format": fmt, "filters": filter_data(filters), "entries": stats.entries},
        request_id=request_id,
    )


@dataclass(slots=True)
class ExportedEntries:
    entries: int = 0


def filter_data(filters: DisseminationFilter) -> dict[str, str | None]:
    return {
        "since": format_time(filters.since) if filters.since else None,
        "until": format_time(filters.until) if filters.until else None,
        "case_id": str(filters.case_id) if filters.case_id else None,
    }


def _cells(row: tuple[Any, ...]) -> dict[str, str]:
    cells = dict(zip(COLUMNS, row, strict=True))
    cells["released_at"] = format_time(cells["released_at"])
    return {name: str(value) for name, value in cells.items()}


def _csv_lines(rows: Iterable[tuple[Any, ...]], stats: ExportedEntries) -> Iterator[str]:
    """A header row, then one RFC 4180 line per entry, formulas neutralized."""
    writer = CsvWriter()
    writer.write(COLUMNS)
    for row in rows:
        writer.write(_cells(row).values())
        stats.entries += 1
        if writer.pending >= exports.CHUNK_CHARS:
            yield writer.drain()
    yield writer.drain()


def _jsonl_lines(rows: Iterable[tuple[Any, ...]], stats: ExportedEntries) -> Iterator[str]:
    """One canonical JSON object per entry (sorted keys, compact)."""
    pending: list[str] = []
    size = 0
    for row in rows:
        line = canonical_json(_cells(row)) + "\n"
        pending.append(line)
        size += len(line)
        stats.entries += 1
        if size >= exports.CHUNK_CHARS:
            yield "".join(pending)
            pending, size = [], 0
    if pending:
        yield "".join(pending)
