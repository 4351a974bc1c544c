"""The CORI dissemination log's export: order, filters, formats, its own audit event."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.audit import dissemination
from bgcheck.audit.dissemination_queries import COLUMNS, DisseminationFilter
from bgcheck.models import AuditEvent
from bgcheck.platform.errors import InvalidInput
from bgcheck.platform.settings import Settings
from workflow import Role

from support.cases import case_context, new_case
from support.factories import make_actor

AUDITOR = audit.AuditActor("user", "auditor-1")
START = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def releases(db: Session, tmp_path: Path) -> list[uuid.UUID]:
    """Five releases over two cases, three of them at the same instant (keyset ties)."""
    ctx = case_context(Settings(data_dir=tmp_path))
    hr = make_actor(db, Role.HR)
    cases = [new_case(db, ctx, hr, START) for _ in range(2)]
    moments = [START, START, START, START + timedelta(hours=1), START + timedelta(days=1)]
    for index, moment in enumerate(moments):
        dissemination.record(
            db,
            audit.AuditActor("user", f"reviewer-{index}"),
            case_id=cases[index % 2],
            recipient="candidate" if index % 2 else f"reviewer-{index}",
            relationship="subject of the record",
            purpose="=a purpose that looks like a formula" if index == 4 else "adjudication",
            what="notices",
            now=moment,
        )
    db.flush()
    return cases


def run(session: Session, fmt: dissemination.exports.Format, **filters: object) -> str:
    chosen = DisseminationFilter(**filters)  # type: ignore[arg-type]
    return "".join(dissemination.export(session, AUDITOR, fmt=fmt, filters=chosen, batch=2))


def last_event(session: Session) -> AuditEvent:
    statement = select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
    return session.exec(statement).one()


def test_csv_lists_every_release_in_time_order_without_formulas(
    db: Session, releases: list[uuid.UUID]
) -> None:
    text = run(db, "csv", since=START - timedelta(seconds=1))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == COLUMNS
    assert [row["released_at"] for row in rows] == sorted(row["released_at"] for row in rows)
    assert len(rows) == 5
    assert len({row["id"] for row in rows}) == 5  # the ties are neither lost nor repeated
    assert rows[0]["released_at"] == "2031-03-01T09:00:00.000000Z"
    assert rows[-1]["purpose"] == "'=a purpose that looks like a formula"
    assert text.endswith("\r\n")


def test_filters_and_jsonl(db: Session, releases: list[uuid.UUID]) -> None:
    lines = run(db, "jsonl", case_id=releases[1], since=START)
    entries = [json.loads(line) for line in lines.splitlines()]
    assert [entry["case_id"] for entry in entries] == [str(releases[1])] * 2
    assert all(set(entry) == set(COLUMNS) for entry in entries)
    assert all(
        line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"))
        for line in lines.splitlines()
    )
    window = run(db, "jsonl", since=START + timedelta(minutes=1), until=START + timedelta(days=1))
    assert len(window.splitlines()) == 1  # since inclusive, until exclusive


def test_the_export_is_audited_after_its_last_row(db: Session, releases: list[uuid.UUID]) -> None:
    run(db, "csv", case_id=releases[0])
    exported = last_event(db)
    assert exported.action == "cori.log_exported"
    assert (exported.actor_kind, exported.actor_id) == ("user", "auditor-1")
    assert (exported.target_type, exported.target_id) == ("case", str(releases[0]))
    assert exported.data["entries"] == 3
    assert exported.data["filters"]["case_id"] == str(releases[0])


def test_an_unfinished_export_records_nothing(db: Session, releases: list[uuid.UUID]) -> None:
    before = last_event(db).seq
    stream = dissemination.export(db, AUDITOR, fmt="csv", filters=DisseminationFilter())
    next(stream)
    stream.close()
    assert last_event(db).seq == before


def test_times_need_a_zone() -> None:
    with pytest.raises(InvalidInput):
        DisseminationFilter(since=datetime(2031, 1, 1))  # noqa: DTZ001  (the point)
