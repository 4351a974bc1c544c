"""The PostgreSQL fast path of the audit export: the same text, several times faster.

``bgcheck.audit.export``'s generic writers turn each row into a mapping of Python
objects (a parsed ``timestamptz``, a parsed ``jsonb``) and format it back into text; at a
million events that decoding, not the database, is the cost. Here:

- times come as text from ``to_char(… AT TIME ZONE 'UTC', …)``, already in the canonical
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` form (PostgreSQL keeps microseconds, no more);
- ``data`` comes as the canonical JSON text recorded with the event
  (``AuditEvent.canonical_data``, the exact text its hash covers), written as it is.
  Events recorded before migration 0008 have none: their jsonb's text is parsed and
  re-encoded as canonical JSON by orjson, with the standard library's C codec as the
  fallback for what orjson cannot do exactly (integers beyond 64 bits, very deep
  nesting). PostgreSQL's own JSON text has spaces and orders keys by length, so it
  cannot be passed through; a property test checks both encoders write the same text;
- the other fields are text or integers, formatted into the line by one f-string. A row
  with text JSON would escape or a CSV cell to quote or neutralize (only tampering, or
  the rare odd id, makes one) takes the generic writer; ``_holds`` finds them;
- rows stream (libpq's chunked rows, ``cursor.stream``): PostgreSQL sends the next rows
  while Python formats the previous ones, on another CPU. A server-side cursor would make
  each ``FETCH`` wait for the server, which halved the rate. Each query covers a window
  of ``WINDOW`` sequence numbers, and a JSONL export reads that window's checkpoints
  before its events (the connection is busy while rows stream).

Memory holds one window's checkpoints and ``FETCH`` rows. ``tests/bgcheck/audit/
test_export.py`` checks that both paths write the same text, tampered rows included.
The one difference: where ``canonical_data`` was edited apart from ``data`` (tampering),
this path writes the edited text and the generic one re-encodes ``data``; ``audit verify``
reports such an event.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import orjson
from sqlmodel import Session

from bgcheck.audit.chain import STORED_FIELDS
from bgcheck.audit.selection import ExportFilters, ExportStats, SeqRange
from bgcheck.platform.spreadsheets import FORMULA_STARTS

# Rows per chunk of the stream and of the text; sequence numbers per query, which also
# bounds the checkpoints held at once.
FETCH: Final = 2000
WINDOW: Final = 20_000

# The event's columns, in ``export.CSV_COLUMNS`` order.
_NAMES: Final = STORED_FIELDS
_COLUMNS: Final = (
    "seq, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "actor_kind, actor_id, action, target_type, target_id, request_id, "
    "coalesce(canonical_data, data::text), prev_hash, hash, canonical_data IS NULL"
)
# Constants only: every value is bound as a parameter (``_query``).
_SELECT: Final = f"SELECT {_COLUMNS} FROM audit_events"  # noqa: S608
# A row whose text JSON would escape, or whose CSV cells the csv module would quote or
# ``spreadsheets.neutralize`` would escape, takes the generic writer; in real events such text is
# rare. ``_holds`` deletes the characters of a set from the row's UTF-8 and compares
# lengths: one pass in C, where str.isprintable, a regular expression or a few two-character
# ``in`` tests each cost as much as the rest of the line (the same probe in the query had
# cost PostgreSQL more per row than the whole COPY of the ceiling). The sets are wider than
# the rules (every control character; any "=", "+", "@" in CSV, not only at a cell's
# start): a false alarm only sends a row down the slower, exact path.
_JSON_SPECIAL: Final = bytes(range(0x20)) + b'"\\'
_CSV_SPECIAL: Final = _JSON_SPECIAL + b"=+@"
_CSV_COMMAS: Final = 9  # between the ten cells other than data
# "-" is checked apart (only at a cell's start); every other formula start must send its
# row to the generic writer, or this path would write a formula the writer neutralizes.
if _missed := set(FORMULA_STARTS) - set(_CSV_SPECIAL.decode()) - {"-"}:
    raise TypeError(f"formula starts the fast path would write raw: {sorted(_missed)}")
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
    filters: ExportFilters, low: int, high: int, *, by_time: bool
) -> tuple[str, dict[str, Any]]:
    """The export's conditions (as ``export.stream_events`` has them) on one window."""
    sql = _SELECT + " WHERE seq BETWEEN %(low)s AND %(high)s"
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
    session: Session, filters: ExportFilters, span: SeqRange, low: int, high: int
) -> Iterator[tuple[Any, ...]]:
    """One window's rows as tuples, streamed inside the session's transaction.

    Closing this early cancels the query (psycopg), and the export's transaction then
    rolls back, as an unfinished export's does anyway.
    """
    connection = session.connection().connection.driver_connection
    sql, params = _query(filters, low, high, by_time=span.by_time)
    # SQLAlchemy types driver_connection Optional: None only once closed, never here.
    with connection.cursor() as cursor:  # type: ignore[union-attr]
        yield from cursor.stream(sql, params, size=FETCH)


def _event(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row as the mapping the generic writers take (``data`` parsed)."""
    event = dict(zip(_NAMES, row, strict=False))
    event["data"] = _decoder.decode(event["data"])
    return event


def _holds(text: str, characters: bytes) -> bool:
    """Whether ``text`` holds any of ``characters`` (ASCII)."""
    data = text.encode()
    return len(data.translate(None, characters)) != len(data)


def _csv_line(row: tuple[Any, ...], exact: Callable[[Mapping[str, Any]], str]) -> str:
    """One event as ``export.csv_lines`` writes it; ``exact`` (the generic writer) takes
    the rare row with a cell to quote or to escape as a formula."""
    seq, at, kind, actor, action, t_type, t_id, request, data, prev, hash_, older = row
    if older:
        data = _canonical(data)
    # The cells around ``data``; a comma inside a cell shows as one comma too many.
    cells = (
        f"{seq},{at},{kind or ''},{actor or ''},{action or ''},{t_type or ''},{t_id or ''},"
        f"{request or ''}"
    )
    hashes = f"{prev or ''},{hash_ or ''}"
    probe = f"{cells},{hashes}"
    if (
        data[:1] != "{"  # an object, as recorded (tampered data could start like a formula)
        or probe.count(",") != _CSV_COMMAS
        or _holds(probe, _CSV_SPECIAL)
        or probe[0] == "-"  # a negative seq
        or ",-" in probe  # "-" is common inside cells (ids), a formula only at a start
    ):
        return exact(_event(row))
    if '"' in data or "," in data:  # RFC 4180, as the csv module quotes
        quoted = data.replace('"', '""')
        return f'{cells},"{quoted}",{hashes}\r\n'
    return f"{cells},{data},{hashes}\r\n"


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
        for row in _rows(session, filters, span, low, high):
            lines.append(_csv_line(row, exact))
            if len(lines) >= FETCH:
                stats.events += len(lines)
                yield "".join(lines)
                lines = []
    stats.events += len(lines)
    if lines:
        yield "".join(lines)


def _quoted(text: str | None) -> str:
    return "null" if text is None else f'"{text}"'


def _event_line(row: tuple[Any, ...], exact: Callable[[Mapping[str, Any]], str]) -> str:
    """One event as ``export.jsonl_record`` writes it (canonical JSON, keys sorted).

    Text fields go between quotes as they are unless JSON would escape something in them;
    ``exact`` (the generic writer) takes such a row. An f-string, not ``orjson.dumps`` of
    a dict: sorting the keys of every line cost three times as much.
    """
    seq, at, kind, actor, action, t_type, t_id, request, data, prev, hash_, older = row
    if older:
        data = _canonical(data)
    try:
        probe = at + kind + action + prev + hash_ + (actor or "") + (t_type or "")
        probe += (t_id or "") + (request or "")
    except TypeError:  # a NOT NULL column read as null: only tampering does that
        return exact(_event(row)) + "\n"
    if _holds(probe, _JSON_SPECIAL):
        return exact(_event(row)) + "\n"
    return (
        f'{{"action":"{action}","actor_id":{_quoted(actor)},"actor_kind":"{kind}",'
        f'"data":{data},"hash":"{hash_}","kind":"event","occurred_at":"{at}",'
        f'"prev_hash":"{prev}","request_id":{_quoted(request)},"seq":{seq},'
        f'"target_id":{_quoted(t_id)},"target_type":{_quoted(t_type)}}}\n'
    )


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
    lines: list[str] = []
    for low, high in _windows(span):
        pending = iter(checkpoints(low - 1 if low == span.first else low, high))
        signed, checkpoint = next(pending, (_NONE, ""))
        events = signatures = 0
        for row in _rows(session, filters, span, low, high):
            seq = row[0]
            while signed < seq:
                lines.append(checkpoint)
                signatures += 1
                signed, checkpoint = next(pending, (_NONE, ""))
            lines.append(_event_line(row, exact))
            events += 1
            while signed == seq:
                lines.append(checkpoint)
                signatures += 1
                signed, checkpoint = next(pending, (_NONE, ""))
            if len(lines) >= FETCH:
                yield "".join(lines)
                lines = []
        while signed != _NONE:  # signing events after the window's last exported one
            lines.append(checkpoint)
            signatures += 1
            signed, checkpoint = next(pending, (_NONE, ""))
        stats.events += events
        stats.checkpoints += signatures
    if lines:
        yield "".join(lines)
