"""Streaming exports: what CSV and JSONL hold, the filters, the export's own event, memory."""

from __future__ import annotations

import csv
import inspect
import io
import json
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.audit import checkpoints, pgstream
from bgcheck.audit import export as exports
from bgcheck.audit.chain import HASHED_FIELDS, STORED_FIELDS, canonical_json
from bgcheck.models import AuditEvent, utcnow
from bgcheck.platform import spreadsheets
from bgcheck.platform.errors import InvalidInput

ACTOR = audit.AuditActor.system("tests")
AUDITOR = audit.AuditActor("user", "auditor-1")
NASTY = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tcmd", "\rcmd", "plain"]


def run(session: Session, fmt: exports.Format, **filters: object) -> str:
    return "".join(
        exports.export(session, AUDITOR, fmt=fmt, filters=exports.ExportFilters(**filters))
    )


def recent_events(session: Session, count: int) -> list[AuditEvent]:
    rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(count))
    return list(reversed(rows.all()))


@pytest.fixture
def nasty_trail(db: Session) -> list[AuditEvent]:
    """Events whose cells would run as formulas in a spreadsheet if not neutralized."""
    return [
        audit.record(
            db,
            audit.AuditActor("user", text),
            action=text,
            target=audit.Target("case", text),
            data={"note": text},
            request_id=text,
        )
        for text in NASTY
    ]


def test_csv_opens_with_a_header_utc_times_and_no_formulas(
    db: Session, nasty_trail: list[AuditEvent]
) -> None:
    rows = list(csv.reader(io.StringIO(run(db, "csv"), newline="")))
    assert tuple(rows[0]) == exports.CSV_COLUMNS
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(body) >= len(NASTY)
    mine = {row["seq"]: row for row in body}
    for event, text in zip(nasty_trail, NASTY, strict=True):
        row = mine[str(event.seq)]
        escaped = text if text == "plain" else "'" + text
        assert row["action"] == row["actor_id"] == row["target_id"] == escaped
        assert row["request_id"] == escaped
        assert json.loads(row["data"]) == {"note": text}  # JSON starts with "{": safe
        assert row["occurred_at"].endswith("Z")
        assert datetime.fromisoformat(row["occurred_at"]) == event.occurred_at
        assert (row["prev_hash"], row["hash"]) == (event.prev_hash, event.hash)
    for row in body:
        assert not any(cell.startswith(spreadsheets.FORMULA_STARTS) for cell in row.values())


def test_jsonl_lines_carry_every_hashed_field_and_the_checkpoints(
    db: Session, signing_key: Ed25519PrivateKey
) -> None:
    audit.record(db, ACTOR, action="case.viewed", data={"n": 1})
    checkpoint = checkpoints.sign_checkpoint(db, signing_key, utcnow())
    assert checkpoint is not None
    audit.record(db, ACTOR, action="case.viewed", data={"n": 2})
    lines = run(db, "jsonl").splitlines()
    records = [json.loads(line) for line in lines]
    header, body = records[0], records[1:]
    assert header["kind"] == "export"
    assert header["filtered"] is False
    assert header["seq_through"] == body[-1]["seq"]
    events = [r for r in body if r["kind"] == "event"]
    signed = [r for r in body if r["kind"] == "checkpoint"]
    assert set(events[0]) == {"kind", *HASHED_FIELDS, "prev_hash", "hash"}
    assert signed[-1] == {
        "kind": "checkpoint",
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "signed_at": checkpoint.signed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }
    position = next(i for i, r in enumerate(body) if r["kind"] == "checkpoint")
    assert body[position - 1]["seq"] == checkpoint.seq  # right after the event it signs
    assert all(
        line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"))
        for line in lines
    )  # canonical JSON


def test_the_export_is_audited_after_its_last_row(db: Session) -> None:
    audit.record(db, ACTOR, action="case.viewed", target=audit.Target.of("case", "c-1"))
    output = run(db, "jsonl", case_id="c-1")
    exported = recent_events(db, 1)[0]
    assert exported.action == "audit.exported"
    assert (exported.actor_kind, exported.actor_id) == ("user", "auditor-1")
    assert (exported.target_type, exported.target_id) == ("case", "c-1")
    assert exported.data["format"] == "jsonl"
    assert exported.data["filters"]["case_id"] == "c-1"
    assert exported.data["events"] >= 1
    assert "audit.exported" not in output  # never part of its own export
    assert audit.verify(db).ok


def test_an_unfinished_export_records_nothing(db: Session) -> None:
    audit.record(db, ACTOR, action="case.viewed")
    before = recent_events(db, 1)[0].seq
    stream = exports.export(db, AUDITOR, fmt="csv", filters=exports.ExportFilters())
    next(stream)
    stream.close()
    assert recent_events(db, 1)[0].seq == before


def test_filters_pick_events_and_time_filters_keep_a_contiguous_range(db: Session) -> None:
    start = utcnow().replace(microsecond=0) + timedelta(days=1)
    made = [
        audit.record(
            db,
            audit.AuditActor("user", f"u{i % 2}"),
            action="case.cleared" if i == 3 else "case.viewed",
            target=audit.Target.of("case", f"case-{i % 3}"),
            now=start + timedelta(minutes=i),
        )
        for i in range(6)
    ]

    def seqs(**filters: object) -> list[int]:
        text = run(db, "jsonl", **filters)
        records = [json.loads(line) for line in text.splitlines()]
        return [r["seq"] for r in records if r["kind"] == "event" and r["seq"] >= made[0].seq]

    window = {"since": start + timedelta(minutes=1), "until": start + timedelta(minutes=4)}
    assert seqs(**window) == [e.seq for e in made[1:4]]
    assert seqs(case_id="case-1") == [made[1].seq, made[4].seq]
    assert seqs(actor="u0", **window) == [made[2].seq]
    assert seqs(type="case.cleared") == [made[3].seq]
    span = exports.seq_range(db, exports.ExportFilters(since=start + timedelta(hours=1)))
    assert span.first > span.last  # nothing that late: an empty range


def test_a_window_with_clock_skew_at_its_edge_is_marked_filtered(db: Session) -> None:
    start = utcnow().replace(microsecond=0) + timedelta(days=2)
    inside = audit.record(db, ACTOR, action="case.viewed", now=start + timedelta(minutes=1))
    audit.record(db, ACTOR, action="case.viewed", now=start - timedelta(seconds=1))  # skewed
    last = audit.record(db, ACTOR, action="case.viewed", now=start + timedelta(minutes=2))
    filters = exports.ExportFilters(since=start, until=start + timedelta(minutes=3))
    span = exports.seq_range(db, filters)
    assert (span.first, span.last, span.by_time) == (inside.seq, last.seq, True)
    records = [json.loads(line) for line in run(db, "jsonl", **vars_of(filters)).splitlines()]
    assert records[0]["filtered"] is True
    assert [r["seq"] for r in records[1:]] == [inside.seq, last.seq]


def vars_of(filters: exports.ExportFilters) -> dict[str, object]:
    return {name: getattr(filters, name) for name in exports.ExportFilters.__slots__}


@pytest.mark.parametrize(
    "filters",
    [
        {"since": datetime(2026, 1, 1)},  # noqa: DTZ001  (the point: no zone)
        {"case_id": ""},
        {"actor": "x" * 65},
    ],
)
def test_bad_filters_are_refused_before_anything_is_read(filters: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        exports.ExportFilters(**filters)  # type: ignore[arg-type]


def test_a_filter_that_looks_like_an_ssn_is_refused_before_streaming() -> None:
    # The filters go into the export's audit event, which refuses SSN-shaped text.
    with pytest.raises(InvalidInput, match="case_id looks like an SSN"):
        exports.ExportFilters(case_id="123-45-6789")


EVENTS_FOR_MEMORY = 20_000


def test_exports_stream_in_constant_memory(db: Session, seed: Callable[..., int]) -> None:
    seed(db, EVENTS_FOR_MEMORY)
    filters = exports.ExportFilters()
    span = exports.seq_range(db, filters)
    postgresql = db.connection().dialect.name == "postgresql"
    for fmt in ("csv", "jsonl"):
        items = exports.stream_items(db, filters, span, checkpoints=fmt == "jsonl", batch=200)
        if fmt == "csv":
            lines = exports.csv_lines(items)
        else:
            header = exports.jsonl_header(filters, span, utcnow())
            lines = exports.jsonl_lines(items, header=header)
        assert inspect.isgenerator(lines)
        total = count = 0
        tracemalloc.start()
        try:
            for line in lines:
                total += len(line)
                count += 1
                if count == EVENTS_FOR_MEMORY // 2 and postgresql:
                    # Rows come from a server-side cursor, not a client-side copy.
                    cursors = db.connection().exec_driver_sql("SELECT count(*) FROM pg_cursors")
                    assert cursors.scalar_one() >= 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count > EVENTS_FOR_MEMORY, fmt
        assert total > 5_000_000, fmt  # the whole export is several megabytes...
        assert peak < total / 8, (fmt, peak, total)  # ...but never held at once


ODD_DATA = [
    {},
    {"note": 'quotes " and, commas\r\nand lines', "z": None, "a": True, "m": [1, [2, {}]]},
    {"é": "ünïcode ✓ 🎉", "ctrl": "\x01\x1f\x7f", "back": "\\", "big": 2**62},
    {"b": {"y": 1, "x": [False, "=1+1"]}, "a": "-@"},
]


@pytest.fixture
def odd_trail(
    db: Session, signing_key: Ed25519PrivateKey, tamper: Callable[[Session], Any]
) -> list[AuditEvent]:
    """Events with every kind of awkward text, checkpoints in between, two rows that only
    tampering could produce (data that is not an object; a hash holding a comma), and
    three recorded before migration 0008 (no canonical text of their data)."""
    made = []
    for index, text in enumerate(NASTY * 2):
        made.append(
            audit.record(
                db,
                audit.AuditActor("user", text) if index % 3 else audit.AuditActor("system"),
                action=text,
                target=audit.Target("case", text) if index % 2 else None,
                data=ODD_DATA[index % len(ODD_DATA)],
                request_id=None if index % 4 == 0 else text,
            )
        )
        if index in (2, 3, 9):
            checkpoints.sign_checkpoint(db, signing_key, utcnow())
    table = AuditEvent.__table__
    with tamper(db):
        # Both copies of data, as a tamperer who knew the schema would change them.
        db.execute(
            sa.update(table).where(table.c.seq == made[5].seq).values(data=-1, canonical_data="-1")
        )
        db.execute(sa.update(table).where(table.c.seq == made[6].seq).values(hash="a,b"))
        # Recorded before migration 0008: no canonical text beside the data.
        for event in made[7:10]:
            db.execute(sa.update(table).where(table.c.seq == event.seq).values(canonical_data=None))
    db.expire_all()
    return made


def test_both_paths_write_the_same_text(
    db: Session, odd_trail: list[AuditEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's fast path (bgcheck.audit.pgstream) against the generic writers, in
    tiny windows so that checkpoints fall on their edges. On SQLite both are the same."""
    monkeypatch.setattr(pgstream, "WINDOW", 4)
    monkeypatch.setattr(pgstream, "FETCH", 3)
    first = odd_trail[0].occurred_at
    cases: list[dict[str, Any]] = [
        {},
        {"since": first},  # a time range from the odd trail on
        {"type": NASTY[0]},  # filtered: checkpoints between the picked events
        {"case_id": NASTY[1], "since": first},
        {"type": "nothing.like.this"},
    ]
    for filters in cases:
        for fmt in ("csv", "jsonl"):
            chosen = exports.ExportFilters(**filters)
            span = exports.seq_range(db, chosen)
            items = exports.stream_items(db, chosen, span, checkpoints=fmt == "jsonl")
            stats = exports.ExportStats()
            fast = "".join(exports.export(db, AUDITOR, fmt=fmt, filters=chosen, stats=stats))
            if fmt == "csv":
                generic = "".join(exports.csv_lines(items))
            else:
                header = fast.split("\n", 1)[0]  # it holds the export's own time
                generic = "".join(exports.jsonl_lines(items, header=header))
            assert fast == generic, (fmt, filters)
            rows = csv.reader(io.StringIO(generic, newline="")) if fmt == "csv" else None
            written = len(list(rows) if rows else generic.splitlines()) - 1  # the header
            assert stats.events + stats.checkpoints == written, (fmt, filters)


def test_exports_stream_in_constant_memory_end_to_end(
    db: Session, seed: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``export`` as the CLI and the API run it (PostgreSQL: the fast path)."""
    monkeypatch.setattr(pgstream, "WINDOW", 2000)
    monkeypatch.setattr(pgstream, "FETCH", 200)
    seed(db, EVENTS_FOR_MEMORY)
    for fmt in ("csv", "jsonl"):
        stream = exports.export(db, AUDITOR, fmt=fmt, filters=exports.ExportFilters(), batch=200)
        total = 0
        tracemalloc.start()
        try:
            for chunk in stream:
                total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert total > 5_000_000, fmt
        assert peak < total / 8, (fmt, peak, total)


# JSON as PostgreSQL hands it over: no floats (audit data refuses them), any text, integers
# beyond 64 bits (orjson refuses those, so the fallback must take them), deep nesting.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=json_values)
@settings(max_examples=300, deadline=None)
def test_the_fast_canonical_json_is_the_chain_s_canonical_json(value: Any) -> None:
    # PostgreSQL's text has spaces and its own key order; the result must not depend on it.
    postgres_text = json.dumps(value, ensure_ascii=True, indent=1)
    assert pgstream._canonical(postgres_text) == canonical_json(value)


def test_nesting_too_deep_for_orjson_still_exports() -> None:
    value: Any = "leaf"
    for _ in range(300):
        value = [value]
    assert pgstream._canonical(json.dumps(value)) == canonical_json(value)


# Text as a tamperer could leave it in any column: quotes, commas, line breaks, control
# characters, formula starts; and the plain identifiers real events hold.
cell_text = st.text() | st.sampled_from([*NASTY, "case.claim", "a" * 64, "", "x,y", 'q"'])


def fast_row(event: dict[str, Any], *, recorded: bool) -> tuple[Any, ...]:
    """``event`` as the fast path's query returns it: ``data`` as the canonical text
    recorded with it, or (``recorded`` False: an event from before migration 0008) as
    PostgreSQL's own text of the jsonb, which has spaces and its own key order."""
    data = event["data"]
    text = canonical_json(data) if recorded else json.dumps(data, indent=1)
    values = (text if name == "data" else event[name] for name in STORED_FIELDS)
    return (*values, not recorded)


@given(
    nullable=st.lists(cell_text | st.none(), min_size=4, max_size=4),
    required=st.lists(cell_text, min_size=4, max_size=4),
    data=st.dictionaries(st.text(), json_values, max_size=4) | json_values,
    seq=st.integers(min_value=-5, max_value=2**62),
    recorded=st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_the_fast_lines_are_the_generic_ones(
    nullable: list[str | None], required: list[str], data: Any, seq: int, recorded: bool
) -> None:
    actor, t_type, t_id, request = nullable
    kind, action, prev, hash_ = required
    event = {
        "seq": seq,
        "occurred_at": "2026-01-01T00:00:00.000001Z",
        "actor_kind": kind,
        "actor_id": actor,
        "action": action,
        "target_type": t_type,
        "target_id": t_id,
        "request_id": request,
        "data": data,
        "prev_hash": prev,
        "hash": hash_,
    }
    row = fast_row(event, recorded=recorded)
    jsonl = pgstream._event_line(row, lambda e: exports.jsonl_record("event", e))
    assert jsonl == exports.jsonl_record("event", event) + "\n"
    csv_line = pgstream._csv_line(row, lambda e: exports.csv_text(exports.csv_row(e)))
    assert csv_line == exports.csv_text(exports.csv_row(event))
