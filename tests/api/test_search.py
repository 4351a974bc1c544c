"""Searching for a candidate (issue 15, hole 1): no oracle for what a role may not read.

The attack: an hr user sees ``***-**-8912`` and no date of birth, yet a search by nine
digits, or by family name and a guessed date of birth, answered whether the guess was
right, through a URL (access logs, browser history), unrecorded and unlimited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from api.app import create_app
from bgcheck.cases import service as case_service
from bgcheck.identity.actors import load_actor
from bgcheck.models import AuditEvent, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Event, Role

from support.auth import access_token
from support.cases import CASE, CONSENT, invite
from support.factories import make_user

SSN = CONSENT["ssn"]
FAMILY, DOB = CONSENT["family_name"], CONSENT["date_of_birth"]
EMAIL = CASE["candidate"]["email"]  # type: ignore[index]
LIMIT = 5


@dataclass
class Desk:
    client: TestClient
    engine: Engine
    users: dict[str, uuid.UUID]
    case_id: str

    def search(self, who: str, body: dict[str, Any]) -> Any:
        token = access_token(self.client.app, self.users[who])  # type: ignore[arg-type]
        return self.client.post(
            "/api/v1/cases/search", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    def events(self, action: str) -> list[AuditEvent]:
        with session_scope(self.engine, read_only=True) as session:
            found = session.exec(
                select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
            ).all()
            for event in found:
                session.expunge(event)
            return list(found)


@pytest.fixture
def desk(fresh_engine, tmp_path) -> Iterator[Desk]:  # type: ignore[no-untyped-def]
    """One consented case of FAC; hr of FAC, a reviewer, an auditor."""
    engine: Engine = fresh_engine()
    settings = Settings(data_dir=tmp_path, embedded_worker=False, search_max_per_window=LIMIT)
    app = create_app(settings, engine)
    ctx = app.state.cases
    with session_scope(engine) as session:
        users = {
            role.value: make_user(session, role).id
            for role in (Role.HR, Role.REVIEWER, Role.MANAGER, Role.AUDITOR)
        }
    with session_scope(engine) as session:
        hr = load_actor(session, users["hr"])
        assert hr is not None
        case_id = case_service.create_case(session, ctx, hr, body=CASE, now=utcnow()).id
        token = invite(session, ctx, hr, case_id, utcnow())
        case_service.fire_as_candidate(
            session, ctx, token=token, event=Event.CONSENT, body=CONSENT, now=utcnow()
        )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Desk(client, engine, users, str(case_id))


def found(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_hr_cannot_confirm_an_ssn_or_a_date_of_birth_by_searching(desk: Desk) -> None:
    for key in ({"ssn": SSN}, {"family_name": FAMILY, "date_of_birth": DOB}):
        refused = desk.search("hr", key)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "email only" in refused.json()["detail"]
        assert SSN not in refused.text
    # A wrong guess and a right guess look the same: both refused, before any lookup.
    assert desk.search("hr", {"ssn": "999-99-9999"}).status_code == 403
    assert found(desk.search("hr", {"email": EMAIL})) == [desk.case_id]


def test_the_old_search_in_the_url_is_refused_not_ignored(desk: Desk) -> None:
    token = access_token(desk.client.app, desk.users["hr"])  # type: ignore[arg-type]
    answer = desk.client.get(
        "/api/v1/cases", params={"q": SSN}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 422
    assert "POST /api/v1/cases/search" in answer.json()["detail"]


@pytest.mark.parametrize("who", ["reviewer", "manager"])
def test_reviewers_and_managers_search_by_every_key(desk: Desk, who: str) -> None:
    assert found(desk.search(who, {"ssn": SSN.replace("-", "")})) == [desk.case_id]
    assert found(desk.search(who, {"family_name": FAMILY.upper(), "date_of_birth": DOB})) == [
        desk.case_id
    ]
    assert found(desk.search(who, {"email": EMAIL.upper()})) == [desk.case_id]
    assert found(desk.search(who, {"ssn": "999-99-9999"})) == []


def test_roles_without_the_search_grant_are_refused(desk: Desk) -> None:
    assert desk.search("auditor", {"email": EMAIL}).status_code == 403


def test_every_search_is_recorded_with_the_kind_of_key_never_its_value(desk: Desk) -> None:
    desk.search("reviewer", {"ssn": SSN})
    desk.search("hr", {"email": EMAIL})
    desk.search("hr", {"email": "nobody@example.org"})
    events = desk.events("search.performed")
    assert [(e.actor_id, e.data["by"], e.data["matches"]) for e in events] == [
        (str(desk.users["reviewer"]), "ssn", 1),
        (str(desk.users["hr"]), "email", 1),
        (str(desk.users["hr"]), "email", 0),
    ]
    for event in events:
        text = str(event.data)
        assert SSN not in text
        assert SSN.replace("-", "") not in text
        assert EMAIL not in text


def test_searches_are_limited_per_user_with_a_clear_429(desk: Desk) -> None:
    for _ in range(LIMIT):
        assert desk.search("hr", {"email": "guess@example.org"}).status_code == 200
    refused = desk.search("hr", {"email": EMAIL})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) > 0
    assert f"{LIMIT} times" in refused.json()["detail"]
    assert desk.search("hr", {"email": EMAIL}).status_code == 429
    # Another user's allowance is their own.
    assert found(desk.search("reviewer", {"email": EMAIL})) == [desk.case_id]
    # The refusal is on the record, once; the refused searches found nothing to record.
    assert len(desk.events("search.limited")) == 1
    assert len(desk.events("search.performed")) == LIMIT + 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "exactly one key"),
        ({"email": EMAIL, "ssn": SSN}, "exactly one key"),
        ({"family_name": FAMILY}, "date_of_birth"),
        ({"ssn": "12345"}, "ssn"),
        ({"ssn": "12345678x"}, "ssn"),
        ({"email": "not an address"}, "email"),
        ({"family_name": "---", "date_of_birth": DOB}, "family_name"),
        ({"email": EMAIL, "q": "legacy-term"}, "q"),
    ],
)
def test_a_malformed_key_is_a_plain_422(desk: Desk, body: dict[str, Any], field: str) -> None:
    answer = desk.search("reviewer", body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    for value in body.values():
        assert value not in answer.text  # never echoed: it may be PII
