"""A case from HR's request to a decision, over HTTP, as each person involved."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from api.app import create_app
from bgcheck.identity import tokens
from bgcheck.identity import users as user_service
from bgcheck.models import Dissemination, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import ConsentBody, Role

from support.auth import access_token
from support.cases import answer_order
from support.factories import TEST_ACTOR, make_department, make_user

CANDIDATE = {"given_name": "Pat", "family_name": "Candidate", "email": "pat@example.org"}
CLERK = {
    "department": "FAC",
    "position_title": "Clerk",
    "package": "standard",
    "candidate": CANDIDATE,
}


@dataclass
class Office:
    client: TestClient
    engine: Engine
    app: Any
    tokens: dict[str, str]

    def create(self, position: str = "Clerk") -> dict:
        """HR requests a check for the usual candidate; the new case as the API shows it."""
        response = self.client.post(
            "/api/v1/cases",
            json={**CLERK, "position_title": position},
            headers=self.as_("hr"),
        )
        assert response.status_code == 201, response.text
        return response.json()

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def fire(self, who: str, case: dict, event: str, body: dict | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.post(
            f"/api/v1/cases/{case['id']}/events/{event}",
            json=body or {},
            headers={**self.as_(who), "If-Match": f'"{case["version"]}"', **kw},
        )

    def vendor_answers(self, case_id: str) -> None:
        """The sandbox vendor places and completes the order, as the worker would apply it."""
        with session_scope(self.engine) as session:
            answer_order(session, self.app.state.cases, uuid.UUID(case_id), utcnow())


@pytest.fixture
def office(fresh_engine, tmp_path) -> Iterator[Office]:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    settings = Settings(
        data_dir=tmp_path, embedded_worker=False, adverse_wait_business_days=0, test_mode=True
    )
    app = create_app(settings, engine)
    users = {}
    with session_scope(engine) as session:
        users["hr"] = make_user(session, Role.HR, email="hr@example.edu").id
        users["other_hr"] = make_user(session, Role.HR, departments=("ATH",)).id
        users["reviewer"] = make_user(session, Role.REVIEWER, email="rev@example.edu").id
        users["manager"] = make_user(session, Role.MANAGER, email="mgr@example.edu").id
        users["auditor"] = make_user(session, Role.AUDITOR).id
        users["admin"] = make_user(session, Role.ADMIN).id
    issued = {who: access_token(app, uid) for who, uid in users.items()}
    with TestClient(app) as client:
        yield Office(client, engine, app, issued)


def consent_body(ssn: str = "123-45-6789") -> dict:
    body = ConsentBody.example()
    body.update(given_name="Pat", family_name="Candidate", signature="Pat Candidate", ssn=ssn)
    return body


def to_review(office: Office, ssn: str, result: str) -> dict:
    """Create, invite, consent, verify, order and let the vendor finish: pending_review."""
    created = office.client.post(
        "/api/v1/cases",
        json={
            "department": "FAC",
            "position_title": "Groundskeeper",
            "package": "standard",
            "candidate": CANDIDATE,
        },
        headers=office.as_("hr"),
    )
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["state"] == "draft"
    assert created.headers["etag"] == '"1"'
    assert case["allowed_events"] == ["invite", "cancel"]

    invited = office.fire("hr", case, "invite")
    assert invited.status_code == 200, invited.text
    case = invited.json()
    token = case["invitation_url"].rsplit("/", 1)[1]
    portal = office.client.get(f"/api/v1/portal/{token}").json()
    assert portal["purpose"] == "consent"
    body = consent_body(ssn) | {"disclosure_version": portal["disclosure"]["version"]}
    assert office.client.post(f"/api/v1/portal/{token}/consent", json=body).status_code == 204
    # The link is used up.
    assert office.client.post(f"/api/v1/portal/{token}/consent", json=body).status_code == 404

    case = office.client.get(f"/api/v1/cases/{case['id']}", headers=office.as_("hr")).json()
    assert case["state"] == "consent_received"
    # HR sees the SSN masked to its last four digits (SPEC roles), never more.
    assert case["candidate"]["ssn_masked"] == f"***-**-{ssn[-4:]}"
    assert ssn not in json.dumps(case)
    verified = office.fire(
        "hr",
        case,
        "verify_identity",
        {"id_type": "drivers_license", "id_last4": "1234", "attested": True},
    )
    assert verified.status_code == 200, verified.text
    ordered = office.fire("hr", verified.json(), "order")
    assert ordered.status_code == 200, ordered.text
    assert ordered.json()["state"] == "submitted"
    office.vendor_answers(case["id"])
    case = office.client.get(f"/api/v1/cases/{case['id']}", headers=office.as_("reviewer")).json()
    assert case["state"] == "pending_review"
    assert case["vendor_result"] == result  # the sandbox: SSN ending 0000 → "consider"
    return case


def test_a_clear_report_ends_cleared(office: Office) -> None:
    case = to_review(office, "123-45-6789", "clear")
    claimed = office.fire("reviewer", case, "claim")
    assert claimed.status_code == 200, claimed.text
    cleared = office.fire("reviewer", claimed.json(), "clear", {"note": "nothing found"})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["state"] == "cleared"
    assert cleared.json()["allowed_events"] == []

    history = office.client.get(f"/api/v1/cases/{case['id']}/history", headers=office.as_("hr"))
    events = [entry["event"] for entry in history.json()]
    assert events == [
        "create",
        "invite",
        "consent",
        "verify_identity",
        "order",
        "vendor_complete",
        "claim",
        "clear",
    ]


def test_an_adverse_finding_ends_not_cleared_after_the_waiting_period(office: Office) -> None:
    case = to_review(office, "123-45-0000", "consider")
    case = office.fire("reviewer", case, "claim").json()
    proposed = office.fire(
        "reviewer",
        case,
        "propose_adverse",
        {
            "findings": ["2019 conviction, larceny over $1,200"],
            "nature_and_gravity": "Felony theft from an employer.",
            "time_elapsed": "Six years.",
            "job_relevance": "The position handles cash.",
        },
    )
    assert proposed.status_code == 200, proposed.text
    approved = office.fire("manager", proposed.json(), "approve_adverse")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "pre_adverse_notice"
    # The link to give the candidate: their notice, and the dispute form before the deadline.
    notice_token = approved.json()["notice_url"].rsplit("/", 1)[1]
    portal = office.client.get(f"/api/v1/portal/{notice_token}")
    assert portal.status_code == 200, portal.text
    notices = office.client.get(
        f"/api/v1/cases/{case['id']}/notices", headers=office.as_("reviewer")
    ).json()
    assert [notice["kind"] for notice in notices] == ["pre_adverse_notice"]
    notice = notices[0]
    assert notice["findings_relied_on"] == ["2019 conviction, larceny over $1,200"]
    assert notice["source"]["name"]
    assert "Summary of Your Rights" in notice["summary_of_rights"]
    assert "803 CMR 2.20" in notice["cori_correction"]
    assert notice["dispute_deadline"]
    # The report comes with what adjudication weighs beside it: the assessment.
    report = office.client.get(
        f"/api/v1/cases/{case['id']}/report", headers=office.as_("manager")
    ).json()
    assert report["result"] == "consider"
    assert [a["job_relevance"] for a in report["assessments"]] == ["The position handles cash."]
    assert report["disputes"] == []
    assert (
        office.client.get(
            f"/api/v1/cases/{case['id']}/notices", headers=office.as_("hr")
        ).status_code
        == 403
    )
    finalized = office.fire("reviewer", approved.json(), "finalize_adverse")
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["state"] == "not_cleared"
    kinds = [
        notice["kind"]
        for notice in office.client.get(
            f"/api/v1/cases/{case['id']}/notices", headers=office.as_("manager")
        ).json()
    ]
    assert kinds == ["pre_adverse_notice", "final_notice"]
    with session_scope(office.engine) as session:
        log = session.exec(
            select(Dissemination).where(Dissemination.case_id == uuid.UUID(case["id"]))
        ).all()
        assert {(entry.recipient, entry.what) for entry in log} >= {
            ("candidate", "pre_adverse_notice"),
            ("candidate", "final_notice"),
        }


def test_the_proposer_cannot_approve(office: Office) -> None:
    case = to_review(office, "123-45-0000", "consider")
    case = office.fire("manager", case, "claim").json()
    proposed = office.fire(
        "manager",
        case,
        "propose_adverse",
        {
            "findings": ["a finding"],
            "nature_and_gravity": "x",
            "time_elapsed": "y",
            "job_relevance": "z",
        },
    ).json()
    refused = office.fire("manager", proposed, "approve_adverse")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "another manager" in refused.json()["detail"] or "propos" in refused.json()["detail"]


def test_a_stale_version_gets_412_and_changes_nothing(office: Office) -> None:
    case = office.create()
    stale = dict(case)
    assert office.fire("hr", case, "invite").status_code == 200
    response = office.fire("hr", stale, "cancel", {"reason": "changed our mind"})
    assert response.status_code == 412
    current = office.client.get(f"/api/v1/cases/{case['id']}", headers=office.as_("hr")).json()
    assert current["state"] == "awaiting_consent"


# Servers read header bytes as Latin-1: "\xb2" arrives as "²", which str.isdigit takes
# and int() refuses (a 500 before issue 15); so did 5,000 digits. (TestClient re-encodes
# headers as UTF-8, so these go through httpx's ASGI transport, byte for byte.)
HOSTILE_IF_MATCH = {
    "5000 digits": b"9" * 5000,
    "10 digits": b"1" * 10,
    "superscript two": "\u00b2".encode("latin-1"),
    "superscript one": "\u00b9".encode("latin-1"),
    "circled one": "\u2460".encode(),
    "Arabic-Indic digits": "\u0661\u0662".encode(),
    "negative": b"-1",
    "plus sign": b"+1",
    "hexadecimal": b"0x1",
}


@pytest.mark.parametrize("version", HOSTILE_IF_MATCH.values(), ids=HOSTILE_IF_MATCH.keys())
def test_an_if_match_that_is_not_a_version_is_a_clear_422_and_changes_nothing(
    office: Office, version: bytes
) -> None:
    case = office.create()

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=office.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                f"/api/v1/cases/{case['id']}/events/cancel",
                json={"reason": "changed our mind"},
                headers={**office.as_("hr"), "If-Match": b'"' + version + b'"'},
            )

    response = anyio.run(send)
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == 'If-Match: send the ETag you read, e.g. "3"'
    current = office.client.get(f"/api/v1/cases/{case['id']}", headers=office.as_("hr")).json()
    assert (current["state"], current["version"]) == ("draft", 1)


@pytest.mark.parametrize("almost", [1, 1.0, "true"], ids=repr)
def test_the_cori_acknowledgement_and_the_attestation_are_json_true_only(
    office: Office, almost: object
) -> None:
    case = office.fire("hr", office.create(), "invite").json()
    token = case["invitation_url"].rsplit("/", 1)[1]
    version = office.client.get(f"/api/v1/portal/{token}").json()["disclosure"]["version"]
    body = consent_body() | {"disclosure_version": version}
    consent = f"/api/v1/portal/{token}/consent"
    refused = office.client.post(consent, json=body | {"cori_acknowledged": almost})
    assert refused.status_code == 422
    assert "cori_acknowledged: Input should be true (the JSON boolean)" in refused.json()["detail"]
    assert office.client.post(consent, json=body).status_code == 204  # nothing was used up

    case = office.client.get(f"/api/v1/cases/{case['id']}", headers=office.as_("hr")).json()
    identity = {"id_type": "passport", "id_last4": "1234"}
    refused = office.fire("hr", case, "verify_identity", identity | {"attested": almost})
    assert refused.status_code == 422
    assert "attested: Input should be true (the JSON boolean)" in refused.json()["detail"]
    after = office.client.get(f"/api/v1/cases/{case['id']}", headers=office.as_("hr")).json()
    assert (after["state"], after["version"]) == ("consent_received", case["version"])
    assert (
        office.fire("hr", case, "verify_identity", identity | {"attested": True}).json()["state"]
        == "ready"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "pat@example.org\x00"),
        ("email", "pat@example.org\r\nBcc: all@example.org"),
        ("email", "pat\u2028@example.org"),
        ("given_name", "Pat\r\nBcc: all@example.org"),
        ("family_name", "Candidate\n"),
    ],
    ids=repr,
)
def test_control_characters_in_the_candidate_are_refused_by_name(
    office: Office, field: str, value: str
) -> None:
    before = office.client.get("/api/v1/cases", headers=office.as_("hr")).json()["items"]
    response = office.client.post(
        "/api/v1/cases",
        json={**CLERK, "candidate": {**CANDIDATE, field: value}},
        headers=office.as_("hr"),
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"candidate.{field}: " in detail
    assert "remove tabs, line breaks and control characters" in detail
    assert "example.org" not in detail  # the value is never echoed
    assert "Candidate" not in detail
    assert office.client.get("/api/v1/cases", headers=office.as_("hr")).json()["items"] == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "new.person@example.edu\x00"),
        ("email", "new.person@example.edu\r\n"),
        ("email", "new\u2029person@example.edu"),
        ("display_name", "New Person\r\nX-Injected: yes"),
        ("display_name", "New\x7fPerson"),
    ],
    ids=repr,
)
def test_control_characters_in_a_staff_email_or_display_name_are_refused(
    office: Office, field: str, value: str
) -> None:
    account = {"email": "new.person@example.edu", "display_name": "New", "roles": ["auditor"]}
    admin = office.as_("admin")
    response = office.client.post("/api/v1/users", json=account | {field: value}, headers=admin)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"{field} must be one line of text: remove tabs, line breaks and control characters"
    )
    emails = {user["email"] for user in office.client.get("/api/v1/users", headers=admin).json()}
    assert "new.person@example.edu" not in emails
    assert office.client.post("/api/v1/users", json=account, headers=admin).status_code == 201


def test_refusals_say_what_is_missing(office: Office) -> None:
    case = office.create()
    wrong_state = office.fire("hr", case, "order")
    assert wrong_state.status_code == 409
    assert "draft" in wrong_state.json()["detail"]
    bad_body = office.fire("hr", case, "cancel", {"reason": "", "extra": 1})
    assert bad_body.status_code == 422


def test_other_departments_and_other_roles_see_what_they_should(office: Office) -> None:
    case = office.create()
    url = f"/api/v1/cases/{case['id']}"
    assert office.client.get(url, headers=office.as_("other_hr")).status_code == 404
    assert office.client.get(url, headers=office.as_("hr")).json()["candidate"]["email"] == (
        "pat@example.org"
    )
    audited = office.client.get(url, headers=office.as_("auditor")).json()
    assert audited["candidate"] is None
    assert office.client.get(url, headers=office.as_("admin")).status_code == 403
    assert office.client.get(f"{url}/pii", headers=office.as_("hr")).status_code == 403
    revealed = office.client.get(f"{url}/pii", headers=office.as_("reviewer"))
    assert revealed.status_code == 200
    assert revealed.json()["fields"]["email"] == "pat@example.org"


def test_search_by_email_uses_the_blind_index(office: Office) -> None:
    created = office.create()
    found = office.client.post(
        "/api/v1/cases/search", json={"email": " PAT@example.org "}, headers=office.as_("reviewer")
    ).json()
    assert [item["id"] for item in found["items"]] == [created["id"]]
    none = office.client.post(
        "/api/v1/cases/search",
        json={"email": "someone@example.org"},
        headers=office.as_("reviewer"),
    ).json()
    assert none["items"] == []


def test_time_filters_take_iso_8601_and_refuse_numbers(office: Office) -> None:
    # Found by fuzzing: a time without a zone was a 500; a number was read as a Unix time.
    office.create()
    reviewer = office.as_("reviewer")
    listed = office.client.get(
        "/api/v1/cases", params={"created_after": "2000-01-01"}, headers=reviewer
    )
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 1
    for bad in ("0.5", "1700000000", "yesterday"):
        response = office.client.get(
            "/api/v1/cases", params={"created_before": bad}, headers=reviewer
        )
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
        assert "created_before" in response.json()["detail"]


def test_a_retried_create_with_the_same_idempotency_key_creates_one_case(office: Office) -> None:
    body = CLERK
    headers = {**office.as_("hr"), "Idempotency-Key": "create-clerk-7f3a"}
    first = office.client.post("/api/v1/cases", json=body, headers=headers)
    again = office.client.post("/api/v1/cases", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    listed = office.client.get("/api/v1/cases", headers=office.as_("hr")).json()["items"]
    assert [item["id"] for item in listed] == [first.json()["id"]]

    changed = office.client.post(
        "/api/v1/cases", json={**body, "position_title": "Other"}, headers=headers
    )
    assert changed.status_code == 422
    assert "different request body" in changed.json()["detail"]


def test_a_retried_event_is_replayed_not_fired_twice(office: Office) -> None:
    case = office.create()
    first = office.fire("hr", case, "invite", **{"Idempotency-Key": "invite-1"})
    again = office.fire("hr", case, "invite", **{"Idempotency-Key": "invite-1"})
    assert first.status_code == again.status_code == 200
    assert again.json()["version"] == first.json()["version"] == case["version"] + 1
    history = office.client.get(f"/api/v1/cases/{case['id']}/history", headers=office.as_("hr"))
    assert [entry["event"] for entry in history.json()] == ["create", "invite"]


def test_a_replay_is_refused_to_a_caller_who_lost_the_case(office: Office) -> None:
    """The attack: a stored answer replayed the candidate's contact to an hr user moved to
    another department since. A replay now checks the caller's right as it is now."""
    headers = {**office.as_("hr"), "Idempotency-Key": "create-then-moved"}
    first = office.client.post("/api/v1/cases", json=CLERK, headers=headers)
    assert first.status_code == 201
    assert first.json()["candidate"]["email"] == "pat@example.org"
    with session_scope(office.engine) as session:
        user = tokens_user(office, "hr")
        make_department(session, "ATH", "Athletics")
        user_service.set_departments(session, TEST_ACTOR, user_id=user, codes=["ATH"])
    again = office.client.post("/api/v1/cases", json=CLERK, headers=headers)
    assert again.status_code == 404, again.text
    assert "pat@example.org" not in again.text


def test_a_replay_shows_only_what_the_caller_may_see_now(office: Office) -> None:
    case = office.create()
    approver = {**office.as_("manager"), "Idempotency-Key": "manager-cancel-1"}
    path = f"/api/v1/cases/{case['id']}/events/cancel"
    first = office.client.post(path, json={"reason": "withdrawn"}, headers=approver)
    assert first.status_code == 200
    assert first.json()["candidate"]["email"] == "pat@example.org"
    with session_scope(office.engine) as session:
        user = tokens_user(office, "manager")
        user_service.set_roles(session, TEST_ACTOR, user_id=user, roles=[Role.AUDITOR])
    again = office.client.post(path, json={"reason": "withdrawn"}, headers=approver)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["candidate"] is None  # an auditor sees no contact
    assert "pat@example.org" not in again.text


def tokens_user(office: Office, who: str) -> uuid.UUID:
    return uuid.UUID(tokens.verify(office.tokens[who], office.app.state.auth.own).subject)
