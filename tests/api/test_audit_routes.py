"""The audit routes over HTTP: streamed exports, verification and the CORI dissemination log."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from api import downloads
from api.app import create_app
from bgcheck import audit
from bgcheck.audit import checkpoints
from bgcheck.audit import export as exports
from bgcheck.audit.dissemination_queries import COLUMNS
from bgcheck.audit.offline import verify_export
from bgcheck.cases import service as case_service
from bgcheck.models import AuditChainHead, AuditEvent, Dissemination, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Event, Role

from support.auth import access_token
from support.cases import ASSESSMENT, CONSENT, RECORD_SSN, to_pending_review
from support.factories import make_actor, make_user
from support.tamper import bypassing_triggers

ROLES = ("hr", "reviewer", "manager", "auditor", "admin")


@dataclass
class Office:
    client: TestClient
    app: FastAPI
    engine: Engine
    users: dict[str, uuid.UUID]

    def get(self, who: str, path: str, **params: Any) -> Any:
        token = access_token(self.app, self.users[who])
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})

    def events_after(self, seq: int) -> list[AuditEvent]:
        with session_scope(self.engine, read_only=True) as session:
            statement = select(AuditEvent).where(col(AuditEvent.seq) > seq)
            events = list(session.exec(statement.order_by(col(AuditEvent.seq))).all())
            session.expunge_all()  # kept as read: the read-only unit of work rolls back
            return events

    def head(self) -> int:
        with session_scope(self.engine, read_only=True) as session:
            return session.exec(select(AuditChainHead.seq)).one()


@pytest.fixture
def office(fresh_engine, tmp_path) -> Iterator[Office]:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    settings = Settings(
        data_dir=tmp_path, embedded_worker=False, adverse_wait_business_days=0, test_mode=True
    )
    app = create_app(settings, engine)
    with session_scope(engine) as session:
        users = {role: make_user(session, Role(role)).id for role in ROLES}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Office(client, app, engine, users)


def record(office: Office, count: int, **fields: Any) -> list[int]:
    with session_scope(office.engine) as session:
        return [
            audit.record(
                session,
                audit.AuditActor("user", fields.get("actor", "user-1")),
                action=fields.get("action", "case.viewed"),
                target=audit.Target("case", fields.get("case", str(uuid.UUID(int=index % 2)))),
                data={"n": index},
            ).seq
            for index in range(count)
        ]


def sign(office: Office) -> None:
    with session_scope(office.engine) as session:
        key = office.app.state.cases.vault.keyring.audit_signing_key()
        assert checkpoints.sign_checkpoint(session, key, utcnow()) is not None


def test_an_auditor_downloads_the_trail_as_csv(office: Office) -> None:
    record(office, 3, actor="=cmd()")
    before = office.head()
    response = office.get("auditor", "/api/v1/audit/events", format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="bgcheck-audit-')
    assert disposition.endswith('.csv"')
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert tuple(rows[0]) == exports.CSV_COLUMNS
    assert len(rows) == before
    assert {row["actor_id"] for row in rows if row["action"] == "case.viewed"} == {"'=cmd()"}

    [exported] = office.events_after(before)
    assert exported.action == "audit.exported"
    assert (exported.actor_kind, exported.actor_id) == ("user", str(office.users["auditor"]))
    assert exported.request_id == response.headers["x-request-id"]
    assert exported.data["format"] == "csv"
    assert exported.data["events"] == before


def test_a_jsonl_download_verifies_offline_with_the_public_key(office: Office) -> None:
    record(office, 5)
    sign(office)
    response = office.get("manager", "/api/v1/audit/events")  # managers export too
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jsonl; charset=utf-8"
    assert response.headers["content-disposition"].endswith('.jsonl"')
    public_key = office.app.state.cases.vault.keyring.audit_signing_key().public_key()
    report = verify_export(response.text.splitlines(keepends=True), public_keys=[public_key])
    assert report.status == "ok", report.summary


def test_filters_pick_events_and_zoneless_times_are_utc(office: Office) -> None:
    case_id = str(uuid.uuid4())
    seqs = record(office, 2, case=case_id, action="case.clear")
    record(office, 2)

    def exported(**params: Any) -> list[int]:
        response = office.get("auditor", "/api/v1/audit/events", **params)
        assert response.status_code == 200, response.text
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert lines[0]["kind"] == "export"
        return [line["seq"] for line in lines[1:] if line["kind"] == "event"]

    assert exported(case_id=case_id) == seqs
    assert exported(type="case.clear", actor="user-1") == seqs
    assert exported(since="2000-01-01", until="2000-01-02") == []  # a date alone: midnight UTC
    assert len(exported(since="2000-01-01T00:00:00")) >= 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "xml"}, "format"),
        ({"case_id": "not-a-case-id"}, "case_id"),
        ({"type": "x" * 65}, "type"),
        ({"actor": ""}, "actor"),
        ({"since": "yesterday"}, "since"),
        # Found by the fuzzer: a number was read as a Unix time (1970), a silent misfilter.
        ({"until": "0.48261545223247754"}, "until"),
        ({"since": "1700000000"}, "since"),
        ({"actor": "123-45-6789"}, "actor looks like an SSN"),
    ],
)
def test_bad_filters_are_a_422_problem_before_anything_streams(
    office: Office, params: dict[str, str], field: str
) -> None:
    before = office.head()
    response = office.get("auditor", "/api/v1/audit/events", **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]
    assert "123-45-6789" not in response.text  # never echoed
    assert office.head() == before


@pytest.mark.parametrize("who", ["hr", "reviewer", "admin"])
def test_only_auditors_and_managers_reach_the_audit_routes(office: Office, who: str) -> None:
    for path in ("/api/v1/audit/events", "/api/v1/audit/verify", "/api/v1/audit/dissemination"):
        response = office.get(who, path)
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_verify_reports_the_chain_and_the_first_bad_event(office: Office) -> None:
    seqs = record(office, 4)
    sign(office)
    response = office.get("auditor", "/api/v1/audit/verify")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is True
    assert report["first_bad_seq"] is None
    assert report["signatures_checked"] is True
    assert report["signed_through"] == report["head_seq"] >= seqs[-1]
    assert report["checkpoints"] == 1
    assert report["summary"].startswith("ok: ")

    with session_scope(office.engine) as session, bypassing_triggers(session):
        table = AuditEvent.__table__
        session.execute(sa.update(table).where(table.c.seq == seqs[1]).values(data={"n": 99}))
    broken = office.get("manager", "/api/v1/audit/verify").json()
    assert broken["ok"] is False
    assert broken["first_bad_seq"] == seqs[1]
    assert broken["reason"] == "hash does not match the event's content"
    assert broken["summary"] == f"broken at seq {seqs[1]}: {broken['reason']}"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def in_notice(office: Office) -> uuid.UUID:
    """A case whose pre-adverse notice went to the candidate (a CORI release)."""
    now = utcnow()
    ctx = office.app.state.cases
    with session_scope(office.engine) as session:
        hr = make_actor(session, Role.HR)
        reviewer = make_actor(session, Role.REVIEWER)
        manager = make_actor(session, Role.MANAGER)
        case_id = to_pending_review(session, ctx, hr, now)
        for who, event, body in (
            (reviewer, Event.CLAIM, {}),
            (reviewer, Event.PROPOSE_ADVERSE, ASSESSMENT),
            (manager, Event.APPROVE_ADVERSE, {}),
        ):
            case_service.fire(
                session,
                ctx,
                who,
                case_id=case_id,
                event=event,
                body=body,
                expected_version=None,
                now=now,
            )
    return case_id


def test_the_dissemination_log_downloads_without_pii(office: Office) -> None:
    first, second = in_notice(office), in_notice(office)
    read = office.get("reviewer", f"/api/v1/cases/{first}/notices")  # a release too
    assert read.status_code == 200, read.text
    before = office.head()

    response = office.get("auditor", "/api/v1/audit/dissemination", format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="bgcheck-cori-dissemination-' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert tuple(rows[0]) == COLUMNS
    assert [(row["case_id"], row["recipient"], row["what"]) for row in rows] == [
        (str(first), "candidate", "pre_adverse_notice"),
        (str(second), "candidate", "pre_adverse_notice"),
        (str(first), str(office.users["reviewer"]), "notices"),
    ]
    assert all(row["released_at"].endswith("Z") for row in rows)
    for pii in ("Pat", "Candidate", "pat@example.org"):
        assert pii not in response.text
    # The SSNs, whole and masked, nowhere. A bare last four is looked for only outside the
    # ids and times: the CSV holds random UUIDs, and "6789" turns up in one about 0.2% of
    # the time (a false failure). The cases consented with RECORD_SSN (to_pending_review);
    # CONSENT's SSN is checked too.
    for ssn in (RECORD_SSN, CONSENT["ssn"]):
        digits = ssn.replace("-", "")
        for form in (ssn, digits, f"***-**-{digits[-4:]}"):
            assert form not in response.text
        for row in rows:
            for column, value in row.items():
                if column != "released_at" and not _is_uuid(value):
                    assert digits[-4:] not in value, column

    [exported] = office.events_after(before)
    assert exported.action == "cori.log_exported"
    assert exported.actor_id == str(office.users["auditor"])
    assert exported.data == {
        "format": "csv",
        "filters": {"since": None, "until": None, "case_id": None},
        "entries": 3,
    }

    mine = office.get("manager", "/api/v1/audit/dissemination", case_id=str(second))
    assert mine.status_code == 200, mine.text
    lines = [json.loads(line) for line in mine.text.splitlines()]
    assert [line["case_id"] for line in lines] == [str(second)]
    assert set(lines[0]) == set(COLUMNS)
    latest = office.events_after(before)[-1]
    assert (latest.target_type, latest.target_id) == ("case", str(second))

    with session_scope(office.engine, read_only=True) as session:
        stored = session.exec(select(Dissemination)).all()
    assert len(stored) == 3  # exporting the log released nothing


def test_a_download_the_client_abandons_records_nothing_and_frees_the_database(
    office: Office,
) -> None:
    record(office, 1500)  # several pieces: the client leaves mid-stream
    before = office.head()

    def produce(session: Any) -> Iterator[str]:
        actor = audit.AuditActor("user", "auditor-1")
        return exports.export(session, actor, fmt="csv", filters=exports.ExportFilters())

    async def take_one_piece() -> str:
        response = downloads._streamed(office.engine, produce, fmt="csv", name="audit")
        body = response.body_iterator
        first = await body.__anext__()  # type: ignore[union-attr]
        await body.__anext__()  # type: ignore[union-attr]
        await body.aclose()  # type: ignore[union-attr]
        return str(first)

    assert anyio.run(take_one_piece).startswith("seq,")
    assert office.head() == before
    with session_scope(office.engine) as session:  # the export's write lock is gone
        audit.record(session, audit.AuditActor.system("tests"), action="case.viewed")
    assert office.head() == before + 1
