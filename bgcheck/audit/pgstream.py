"""The PostgreSQL fast path of the audit export: the same text, several times faster.

``bgcheck.audit.export``'s generic writers turn each row into a mapping of Python
objects (a parsed ``timestamptz``, a parsed ``jsonb``) and format it back into text; at a
million events that decoding, not the database, is the cost. Here:

- times come as text from ``to_char(… AT TIME ZONE 'UTC', …)``, already in the canonical
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` form (PostgreSQL keeps microseconds, no more);
- ``data`` comes as text and is parsed and re-encoded as canonical JSON (sorted keys,
  compact) by orjson, three times faster than the standard library's C codec, which
  remains the fallback for what orjson cannot do exactly (integers beyond 64 bits, very
  deep nesting). PostgreSQL's own JSON text has spaces and orders keys by length, so it cannot
  be passed through; a property test checks both encoders write the same text;
- the other fields are text or integers: a JSONL line is one orjson call, a CSV line
  one f-string. What the fast writers cannot do exactly takes the generic writer: for
  JSONL, data orjson would not reproduce; for CSV, the rare row that PostgreSQL flags as
  needing quoting or a formula escape;
- rows stream (libpq's chunked rows, ``cursor.stream``): PostgreSQL sends the next rows
  while Python formats the previous ones, on another CPU. A server-side cursor would make
  each ``FETCH`` wait for the server, which halved the rate. Each query covers a window
  of ``WINDOW`` sequence numbers, and a JSONL export reads that window's checkpoints
  before its events (the connection is busy while rows stream).

Memory holds one window's checkpoints and ``FETCH`` rows. ``tests/bgcheck/audit/
test_export.py`` checks that both paths write the same text, tampered rows included.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson
from sqlmodel import Session

from bgcheck.audit.chain import STORED_FIELDS

if TYPE_CHECKING:
    from bgcheck.audit.export import ExportFilters, ExportStats, SeqRange

# Rows per chunk of the stream and of the text; sequence numbers per query, which also
# bounds the checkpoints held at once.
FETCH: Final = 2000
WINDOW: Final = 20_000

# The event's columns, in ``export.CSV_COLUMNS`` order.
_NAMES: Final = STORED_FIELDS
_COLUMNS: Final = (
    "seq, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "actor_kind, actor_id, action, target_type, target_id, request_id, data::text, "
    "prev_hash, hash"
)
# Constants only: every value is bound as a parameter (``_query``).
_JSONL_SELECT: Final = f"SELECT {_COLUMNS} FROM audit_events"  # noqa: S608
# CSV: a last column that is true when no text cell needs quoting (a comma, a quote, a
# line break) or a formula escape (``export.FORMULA_STARTS`` at a cell's start: each cell
# follows U+001F in the probe). A false alarm (a cell holding U+001F) only sends the row
# down the generic path. ``seq`` and the time are digits; ``data`` is checked in Python.
_PROBE: Final = (
    "concat_ws(E'\\x1f', '', actor_kind, actor_id, action, target_type, target_id, "
    "request_id, prev_hash, hash) !~ E'[\",\\r\\n]|\\x1f[=+@\\t\\r-]'"
)
_CSV_SELECT: Final = f"SELECT {_COLUMNS}, {_PROBE} FROM audit_events"  # noqa: S608
_NONE: Final = sys.maxsize  # "no checkpoint left": greater than any seq

_quote = json.encoder.encode_basestring  # C; json.dumps's own
_decoder = json.JSONDecoder()
try:  # the C codec, built once (json.loads / json.dumps build or wrap it on every call)
    _scan = json.scanner.c_make_scanner(_decoder)  # type: ignore[attr-defined]
    _encode = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, None, _quote, None, ":", ",", True, False, True
    )

    def _stdlib_canonical(text: str) -> str:
        return "".join(_encode(_scan(text, 0)[0], 0))

except (AttributeError, TypeError):  # no C accelerator: the same text, more slowly
    _plain = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def _stdlib_canonical(text: str) -> str:
        return _plain.encode(_decoder.decode(text))


_ORJSON: Final = orjson.OPT_SORT_KEYS
# orjson reads an integer beyond 64 bits as a float, which it writes with an exponent
# (``-9.223372036854776e+18``); audit data holds no floats, so output with "e+" in it
# (rarely, just a string that has it) is written again by the standard library.
_INEXACT: Final = b"e+"


def _canonical(text: str) -> str:
    """PostgreSQL's JSON text as canonical JSON (``chain.canonical_json``)."""
    try:
        fast = orjson.dumps(orjson.loads(text), option=_ORJSON)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # too deep, for one
        return _stdlib_canonical(text)
    return _stdlib_canonical(text) if _INEXACT in fast else fast.decode()


def _query(
    select: str, filters: ExportFilters, low: int, high: int, *, by_time: bool
) -> tuple[str, dict[str, Any]]:
    """The export's conditions (as ``export.stream_events`` has them) on one window."""
    sql = select + " WHERE seq BETWEEN %(low)s AND %(high)s"
    params: dict[str, Any] = {"low": low, "high": high}
    if by_time and filters.since is not None:
        sql, params["since"] = sql + " AND occurred_at >= %(since)s", filters.since
    if by_time and filters.until is not None:
        sql, params["until"] = sql + " AND occurred_at < %(until)s", filters.until
    for column, name in (("target_id", "case_id"), ("actor_id", "actor"), ("action", "type")):
        value = getattr(filters, name)
        if value is not None:
            sql, params[name] = sql + f" AND {column} = %({name})s", value
    return sql + " ORDER BY seq", params


def _windows(span: SeqRange) -> Iterator[tuple[int, int]]:
    """The span in runs of ``WINDOW`` sequence numbers."""
    low = span.first
    while low <= span.last:
        high = min(low + WINDOW - 1, span.last)
        yield low, high
        low = high + 1


def _rows(
    session: Session, select: str, filters: ExportFilters, span: SeqRange, low: int, high: int
) -> Iterator[tuple[Any, ...]]:
    """One window's rows as tuples, streamed inside the session's transaction.

    Closing this early cancels the query (psycopg), and the export's transaction then
    rolls back, as an unfinished export's does anyway.
    """
    connection = session.connection().connection.driver_connection
    sql, params = _query(select, filters, low, high, by_time=span.by_time)
    # SQLAlchemy types driver_connection Optional: None only once closed, never here.
    with connection.cursor() as cursor:  # type: ignore[union-attr]
        yield from cursor.stream(sql, params, size=FETCH)


def _event(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as the mapping the generic writers take (``data`` parsed)."""
    event = dict(zip(_NAMES, row, strict=False))
    event["data"] = _decoder.decode(event["data"])
    return event


def csv_chunks(
    session: Session,
    filters: ExportFilters,
    span: SeqRange,
    *,
    header: str,
    exact: Callable[[Mapping[str, Any]], str],
    stats: ExportStats,
) -> Iterator[str]:
    """What ``export.csv_lines`` writes, ``FETCH`` rows per chunk.

    ``exact`` writes one event (a mapping of its columns) the generic way; it takes the
    rows that need quoting or a formula escape.
    """
    yield header
    lines: list[str] = []
    for low, high in _windows(span):
        for row in _rows(session, _CSV_SELECT, filters, span, low, high):
            seq, at, kind, actor, action, t_type, t_id, request, data, prev, hash_, plain = row
            data = _canonical(data)
            if not plain or data[:1] != "{":  # an object, as recorded; else the exact path
                lines.append(exact(_event(row)))
            else:
                if '"' in data or "," in data:  # RFC 4180, as the csv module quotes
                    data = '"' + data.replace('"', '""') + '"'
                lines.append(
                    f"{seq},{at},{kind},{actor or ''},{action},{t_type or ''},{t_id or ''},"
                    f"{request or ''},{data},{prev},{hash_}\r\n"
                )
            if len(lines) >= FETCH:
                stats.events += len(lines)
                yield "".join(lines)
                lines = []
    stats.events += len(lines)
    if lines:
        yield "".join(lines)


def _event_line(row: tuple[Any, ...], exact: Callable[[Mapping[str, Any]], str]) -> bytes:
    """One event as ``export.jsonl_record`` writes it (canonical JSON, keys sorted), in
    UTF-8: a chunk of lines is decoded once, not line by line. ``exact`` (the generic
    writer) takes what orjson cannot write exactly."""
    seq, at, kind, actor, action, t_type, t_id, request, data, prev, hash_ = row
    try:
        fast = orjson.dumps(
            {
                "action": action,
                "actor_id": actor,
                "actor_kind": kind,
                "data": orjson.loads(data),
                "hash": hash_,
                "kind": "event",
                "occurred_at": at,
                "prev_hash": prev,
                "request_id": request,
                "seq": seq,
                "target_id": t_id,
                "target_type": t_type,
            },
            option=_ORJSON | orjson.OPT_APPEND_NEWLINE,
        )
        if _INEXACT not in fast:
            return fast
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        pass
    return (exact(_event(row)) + "\n").encode()


def jsonl_chunks(
    session: Session,
    filters: ExportFilters,
    span: SeqRange,
    *,
    header: str,
    checkpoints: Callable[[int, int], list[tuple[int, str]]],
    exact: Callable[[Mapping[str, Any]], str],
    stats: ExportStats,
) -> Iterator[str]:
    """What ``export.jsonl_lines`` writes (header, events, checkpoints), in chunks.

    ``checkpoints(low, high)`` gives the checkpoints with ``low <= seq <= high`` as
    ``(seq, line)`` pairs in sequence order, rendered by the generic writer (they are
    few). Each is written right after the event it signs, or where that event would be,
    as ``verification.merge`` orders them; the one just before the span (the anchor)
    comes first.
    """
    yield header + "\n"
    lines: list[bytes] = []
    for low, high in _windows(span):
        pending = (
            (seq, line.encode())
            for seq, line in checkpoints(low - 1 if low == span.first else low, high)
        )
        signed, checkpoint = next(pending, (_NONE, b""))
        events = signatures = 0
        for row in _rows(session, _JSONL_SELECT, filters, span, low, high):
            seq = row[0]
            while signed < seq:
                lines.append(checkpoint)
                signatures += 1
                signed, checkpoint = next(pending, (_NONE, b""))
            lines.append(_event_line(row, exact))
            events += 1
            while signed == seq:
                lines.append(checkpoint)
                signatures += 1
                signed, checkpoint = next(pending, (_NONE, b""))
            if len(lines) >= FETCH:
                yield b"".join(lines).decode()
                lines = []
        while signed != _NONE:  # signing events after the window's last exported one
            lines.append(checkpoint)
            signatures += 1
            signed, checkpoint = next(pending, (_NONE, b""))
        stats.events += events
        stats.checkpoints += signatures
    if lines:
        yield b"".join(lines).decode()
