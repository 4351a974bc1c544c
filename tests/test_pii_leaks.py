"""Leak guard: known PII, pushed through the real flow, shows up only where a role may see it.

One candidate with distinctive values goes from HR's request through consent, review, the
adverse-action notices and the audited reveal, over HTTP, on both backends. Then every GET
route is called as each role that must not see the values, and the test fails if any
value appears in those responses, in any error body or response header, in the captured
logs, in the audit trail's data, or in plaintext anywhere in the database. Finally the
case is purged (retention) and nobody, not even a reviewer, gets any value back.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import SQLModel

from api.app import create_app
from bgcheck.cases import service as case_service
from bgcheck.crypto import email_index, ssn_index
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from bgcheck.vault import retention
from workflow import ConsentBody, Event, Role

from support.auth import access_token
from support.factories import TEST_ACTOR, make_user

GIVEN = "Zephyrine"
FAMILY = "Quackenbush-Oyelaran"
EMAIL = "zephyrine.quackenbush@example.org"
SSN = "531-86-2047"
DOB = "1979-03-14"
PHONE = "413-555-0187"
STREET = "77 Marlowe Terrace"
LICENCE = "S98765432"
OTHER_NAME = "Zeph Quillfeather"

CONTACT = {GIVEN, FAMILY, EMAIL}  # what hr in the case's department may see
SENSITIVE = {SSN, SSN.replace("-", ""), DOB, PHONE, STREET, LICENCE, OTHER_NAME}
EVERYTHING = CONTACT | SENSITIVE
OUTSIDERS = ("auditor", "admin", "other_hr")


@dataclass
class Exchange:
    who: str
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Office:
    client: TestClient
    engine: Engine
    app: Any
    tokens: dict[str, str]
    user_ids: dict[str, uuid.UUID]
    log: list[Exchange] = field(default_factory=list)

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if who in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        self.log.append(
            Exchange(who, method, path, response.status_code, dict(response.headers), response.text)
        )
        return response

    def fire(self, who: str, case_id: str, event: str, body: dict | None = None) -> dict:
        response = self.call(
            who, "POST", f"/api/v1/cases/{case_id}/events/{event}", json=body or {}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def responses_for(self, who: Iterable[str]) -> list[Exchange]:
        names = set(who)
        return [exchange for exchange in self.log if exchange.who in names]


def found_in(text: str, values: Iterable[str]) -> set[str]:
    lowered = text.lower()
    return {value for value in values if value.lower() in lowered}


@pytest.fixture
def quiet_test_client() -> Iterator[None]:
    """httpx logs the test client's own request URLs (search terms included): that is
    this test talking, not the server, so it is kept out of the captured logs."""
    client_log = logging.getLogger("httpx")
    level = client_log.level
    client_log.setLevel(logging.WARNING)
    yield
    client_log.setLevel(level)


@pytest.fixture
def office(fresh_engine, tmp_path, quiet_test_client, capsys) -> Iterator[Office]:  # type: ignore[no-untyped-def]
    # capsys first: ``configure_logging`` (in create_app) binds to the current stdout.
    engine: Engine = fresh_engine()
    settings = Settings(
        data_dir=tmp_path,
        embedded_worker=False,
        adverse_wait_business_days=0,
        test_mode=True,
        log_level="DEBUG",
        log_format="json",
    )
    app = create_app(settings, engine)  # configures logging onto the captured stdout
    users: dict[str, uuid.UUID] = {}
    with session_scope(engine) as session:
        users["hr"] = make_user(session, Role.HR, email="hr.leaks@example.edu").id
        users["other_hr"] = make_user(session, Role.HR, departments=("ATH",)).id
        users["reviewer"] = make_user(session, Role.REVIEWER).id
        users["manager"] = make_user(session, Role.MANAGER).id
        users["auditor"] = make_user(session, Role.AUDITOR).id
        users["admin"] = make_user(session, Role.ADMIN).id
    issued = {who: access_token(app, uid) for who, uid in users.items()}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Office(client, engine, app, issued, users)


def consent_body(disclosure_version: str) -> dict[str, Any]:
    body = ConsentBody.example()
    body.update(
        disclosure_version=disclosure_version,
        given_name=GIVEN,
        family_name=FAMILY,
        signature=f"{GIVEN} {FAMILY}",
        other_names=[OTHER_NAME],
        date_of_birth=DOB,
        ssn=SSN,
        phone=PHONE,
        drivers_license={"number": LICENCE, "state": "MA"},
    )
    body["addresses"] = [{**body["addresses"][0], "line1": STREET}]
    return body


def run_the_flow(office: Office) -> str:
    """Request, consent, review, adverse notices, reveal; returns the case id."""
    created = office.call(
        "hr",
        "POST",
        "/api/v1/cases",
        json={
            "department": "FAC",
            "position_title": "Groundskeeper",
            "package": "standard",
            "candidate": {"given_name": GIVEN, "family_name": FAMILY, "email": EMAIL},
        },
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    invited = office.fire("hr", case_id, "invite")
    token = invited["invitation_url"].rsplit("/", 1)[1]
    portal = office.call("candidate", "GET", f"/api/v1/portal/{token}").json()
    # A malformed submission first: the 422 must name fields, never echo the values.
    bad = consent_body(portal["disclosure"]["version"]) | {"date_of_birth": f"{SSN} {DOB}x"}
    assert (
        office.call("candidate", "POST", f"/api/v1/portal/{token}/consent", json=bad).status_code
        == 422
    )
    consented = office.call(
        "candidate",
        "POST",
        f"/api/v1/portal/{token}/consent",
        json=consent_body(portal["disclosure"]["version"]),
    )
    assert consented.status_code == 204, consented.text

    office.fire(
        "hr",
        case_id,
        "verify_identity",
        {"id_type": "passport", "id_last4": "1234", "attested": True},
    )
    office.fire("hr", case_id, "order")
    with session_scope(office.engine) as session:
        case_service.fire_as_system(
            session,
            office.app.state.cases,
            case_id=uuid.UUID(case_id),
            event=Event.VENDOR_COMPLETE,
            body={"result": "consider"},
            now=utcnow(),
            as_role=Role.VENDOR,
        )
    office.fire("reviewer", case_id, "claim")
    office.fire(
        "reviewer",
        case_id,
        "propose_adverse",
        {
            "findings": ["2019 conviction, larceny over $1,200"],
            "nature_and_gravity": "Felony theft from an employer.",
            "time_elapsed": "Six years.",
            "job_relevance": "The position handles cash.",
        },
    )
    approved = office.fire("manager", case_id, "approve_adverse")
    assert approved["state"] == "pre_adverse_notice"
    office.fire("reviewer", case_id, "finalize_adverse")

    # Staff who may: hr reads the contact, the reviewer searches and reveals.
    assert (
        office.call("hr", "GET", f"/api/v1/cases/{case_id}").json()["candidate"]["email"] == EMAIL
    )
    found = office.call("reviewer", "POST", "/api/v1/cases/search", json={"email": EMAIL}).json()
    assert [item["id"] for item in found["items"]] == [case_id]
    revealed = office.call("reviewer", "GET", f"/api/v1/cases/{case_id}/pii")
    assert revealed.status_code == 200
    assert revealed.json()["fields"]["ssn"].replace("-", "") == SSN.replace("-", "")
    return case_id


SEARCH_KEYS = ({"email": EMAIL}, {"ssn": SSN}, {"family_name": FAMILY, "date_of_birth": DOB})


def sweep_get_routes(office: Office, case_id: str, roles: Iterable[str]) -> None:
    """Every GET route of the API (from its OpenAPI document), as each role, with this
    case's id where one fits; the list route also with each kind of search term."""
    user_id = str(office.user_ids["reviewer"])
    paths = [path for path, ops in office.app.openapi()["paths"].items() if "get" in ops]
    assert "/api/v1/cases/{case_id}/pii" in paths
    for template in paths:
        if "{token}" in template:
            continue  # the candidate's own link: covered by the flow
        path = template.replace("{case_id}", case_id).replace("{user_id}", user_id)
        assert "{" not in path, f"no value for the parameters of {template}"
        for who in roles:
            office.call(who, "GET", path)
            if template == "/api/v1/cases":
                for key in SEARCH_KEYS:
                    office.call(who, "POST", "/api/v1/cases/search", json=key)


def database_text(engine: Engine) -> Iterator[tuple[str, str]]:
    """Every stored value of every table, as text (bytes decoded leniently)."""
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        text = bytes(value).decode("latin-1")
                    elif isinstance(value, dict | list):
                        text = json.dumps(value)
                    else:
                        text = str(value)
                    yield f"{table.name}.{column}", text


def test_known_pii_appears_only_where_a_role_may_see_it(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    case_id = run_the_flow(office)
    sweep_get_routes(office, case_id, (*OUTSIDERS, "hr", "reviewer", "manager", "anonymous"))
    logs = capsys.readouterr().out
    # Positive controls: the capture sees the values where they belong.
    assert logs.strip(), "logging was not captured"
    assert found_in(" ".join(e.body for e in office.responses_for(("hr",))), CONTACT) == CONTACT
    reveal = next(e for e in office.log if e.path.endswith("/pii") and e.status == 200)
    assert found_in(reveal.body, SENSITIVE) >= {SSN.replace("-", ""), DOB, STREET, OTHER_NAME}
    assert len(office.responses_for(OUTSIDERS)) >= 3 * 6
    stored = list(database_text(office.engine))
    assert any(where.startswith("audit_events.data") for where, _ in stored)
    problems: list[str] = []

    for exchange in office.responses_for((*OUTSIDERS, "anonymous")):
        if leaked := found_in(exchange.body, EVERYTHING):
            problems.append(f"{exchange.who} {exchange.method} {exchange.path}: {sorted(leaked)}")
    for exchange in office.responses_for(("hr",)):
        if leaked := found_in(exchange.body, SENSITIVE):
            problems.append(f"hr {exchange.method} {exchange.path}: {sorted(leaked)}")
    for exchange in office.responses_for(("reviewer", "manager")):
        if exchange.path.endswith("/pii"):
            continue  # the audited reveal: its one job
        if leaked := found_in(exchange.body, {SSN, SSN.replace("-", ""), DOB, LICENCE}):
            problems.append(f"{exchange.who} {exchange.method} {exchange.path}: {sorted(leaked)}")
    for exchange in office.log:
        if exchange.status >= 400 and (leaked := found_in(exchange.body, EVERYTHING)):
            problems.append(f"error body {exchange.status} {exchange.path}: {sorted(leaked)}")
        if leaked := found_in(json.dumps(exchange.headers), EVERYTHING):
            problems.append(f"headers of {exchange.path}: {sorted(leaked)}")
    if leaked := found_in(logs, EVERYTHING):
        problems.append(f"logs: {sorted(leaked)}")

    root = office.app.state.cases.vault.keyring.blind_index_root_key
    indexes = {ssn_index(root, SSN), email_index(root, EMAIL)}
    for where, text in stored:
        if where.startswith("audit_events.") and (leaked := found_in(text, EVERYTHING)):
            problems.append(f"audit trail {where}: {sorted(leaked)}")
        elif leaked := found_in(text, EVERYTHING):
            problems.append(f"plaintext at rest in {where}: {sorted(leaked)}")
    for exchange in office.log:
        if leaked := found_in(exchange.body, indexes):
            problems.append(f"blind index in {exchange.who} {exchange.path}: {len(leaked)}")
    assert not problems, "\n".join(problems)


def test_after_retention_nobody_gets_the_pii_back_and_reads_still_work(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    case_id = run_the_flow(office)
    policy = retention.Policy(decided_years=7, closed_days=365)
    later = utcnow() + timedelta(days=8 * 366)
    with session_scope(office.engine) as session:
        assert retention.purge_case(
            session, TEST_ACTOR, case_id=uuid.UUID(case_id), policy=policy, now=later
        )
    office.log.clear()

    case = office.call("hr", "GET", f"/api/v1/cases/{case_id}")
    assert case.status_code == 200
    assert case.json()["state"] == "not_cleared"
    assert case.json()["candidate"] in (
        None,
        {"given_name": None, "family_name": None, "email": None, "ssn_masked": None},
    )
    listed = office.call("reviewer", "GET", "/api/v1/cases", params={"limit": 50})
    assert listed.status_code == 200
    assert case_id in [item["id"] for item in listed.json()["items"]]
    searched = office.call("reviewer", "POST", "/api/v1/cases/search", json={"ssn": SSN})
    assert searched.json()["items"] == []
    assert office.call("reviewer", "GET", f"/api/v1/cases/{case_id}/pii").status_code == 409
    history = office.call("hr", "GET", f"/api/v1/cases/{case_id}/history")
    assert history.status_code == 200
    assert [entry["event"] for entry in history.json()][-1] == "finalize_adverse"
    sweep_get_routes(office, case_id, ("hr", "reviewer", "manager", *OUTSIDERS))

    leaks = [
        f"{exchange.who} {exchange.path}: {sorted(leaked)}"
        for exchange in office.log
        if (leaked := found_in(exchange.body, EVERYTHING))
    ]
    assert not leaks, "\n".join(leaks)
    assert not found_in(capsys.readouterr().out, EVERYTHING)


def test_a_retried_request_leaves_no_plaintext_pii_at_rest(office: Office) -> None:
    created = office.call(
        "hr",
        "POST",
        "/api/v1/cases",
        json={
            "department": "FAC",
            "position_title": "Groundskeeper",
            "package": "standard",
            "candidate": {"given_name": GIVEN, "family_name": FAMILY, "email": EMAIL},
        },
        headers={"Idempotency-Key": "create-zephyrine-1"},
    )
    assert created.status_code == 201, created.text
    stored = [
        f"{where}: {sorted(leaked)}"
        for where, text in database_text(office.engine)
        if (leaked := found_in(text, EVERYTHING))
    ]
    assert not stored, "\n".join(stored)
