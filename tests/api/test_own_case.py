"""Nobody handles their own case (issue 15, hole 7): not under a "+tag" or a trailing dot,
and not under another address when the SSN or name + date of birth says it is them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from bgcheck.cases import service as case_service
from bgcheck.identity.actors import load_actor
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Event, Role

from support.auth import access_token
from support.cases import CASE, CONSENT, invite
from support.factories import make_user


@dataclass
class Office:
    client: TestClient
    engine: Engine
    users: dict[str, uuid.UUID]

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        token = access_token(self.client.app, self.users[who])  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def request_check(self, email: str) -> Any:
        body = {**CASE, "candidate": {**CASE["candidate"], "email": email}}  # type: ignore[dict-item]
        return self.call("hr", "POST", "/api/v1/cases", json=body)

    def consented_case(self, email: str = "someone.else@example.org") -> str:
        created = self.request_check(email)
        assert created.status_code == 201, created.text
        ctx = self.client.app.state.cases  # type: ignore[attr-defined]
        with session_scope(self.engine) as session:
            hr = load_actor(session, self.users["hr"])
            assert hr is not None
            case_id = uuid.UUID(created.json()["id"])
            token = invite(session, ctx, hr, case_id, utcnow())
            case_service.fire_as_candidate(
                session, ctx, token=token, event=Event.CONSENT, body=CONSENT, now=utcnow()
            )
        return str(case_id)

    def sees(self, who: str, case_id: str) -> bool:
        read = self.call(who, "GET", f"/api/v1/cases/{case_id}")
        listed = self.call(who, "GET", "/api/v1/cases", params={"limit": 100}).json()["items"]
        in_list = case_id in [item["id"] for item in listed]
        assert (read.status_code == 200) == in_list, "the case page and the list disagree"
        return in_list


@pytest.fixture
def office(fresh_engine, tmp_path) -> Iterator[Office]:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    app = create_app(Settings(data_dir=tmp_path, embedded_worker=False), engine)
    with session_scope(engine) as session:
        users = {
            "hr": make_user(session, Role.HR, email="hr@example.edu").id,
            "reviewer": make_user(session, Role.REVIEWER, email="rev@example.edu").id,
            "manager": make_user(session, Role.MANAGER, email="mgr@example.edu").id,
        }
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Office(client, engine, users)


@pytest.mark.parametrize("alias", ["hr+me@example.edu", "hr@example.edu.", "HR+x@Example.EDU."])
def test_hr_cannot_request_a_check_of_themselves_under_an_alias(office: Office, alias: str) -> None:
    refused = office.request_check(alias)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "conflict_of_interest"


@pytest.mark.parametrize("alias", ["rev+bg@example.edu", "rev@example.edu.", "REV@EXAMPLE.EDU"])
def test_a_reviewer_never_sees_a_case_of_their_own_mailbox(office: Office, alias: str) -> None:
    created = office.request_check(alias)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    assert not office.sees("reviewer", case_id)
    assert office.sees("manager", case_id)
    searched = office.call("reviewer", "POST", "/api/v1/cases/search", json={"email": alias})
    assert searched.json()["items"] == []
    cancelled = office.call(
        "manager",
        "POST",
        f"/api/v1/cases/{case_id}/events/cancel",
        json={"reason": "test: a manager may still act"},
    )
    assert cancelled.status_code == 200, cancelled.text


def test_a_declared_identity_keeps_a_reviewer_off_their_case_under_any_address(
    office: Office,
) -> None:
    case_id = office.consented_case()
    assert office.sees("reviewer", case_id)  # nothing says yet that it is them

    declared = office.call(
        "reviewer",
        "PUT",
        "/api/v1/me/identity",
        json={"family_name": CONSENT["family_name"], "date_of_birth": CONSENT["date_of_birth"]},
    )
    assert declared.status_code == 204, declared.text
    assert not office.sees("reviewer", case_id)
    assert office.call("reviewer", "GET", f"/api/v1/cases/{case_id}/pii").status_code == 404
    found = office.call("reviewer", "POST", "/api/v1/cases/search", json={"ssn": CONSENT["ssn"]})
    assert found.json()["items"] == []
    assert office.sees("manager", case_id)


def test_a_declared_ssn_alone_is_enough(office: Office) -> None:
    case_id = office.consented_case()
    office.call(
        "reviewer",
        "PUT",
        "/api/v1/me/identity",
        json={"family_name": "Someone", "date_of_birth": "1970-01-01", "ssn": CONSENT["ssn"]},
    )
    assert not office.sees("reviewer", case_id)


def test_the_declared_values_are_kept_as_indexes_only(office: Office) -> None:
    office.call(
        "reviewer",
        "PUT",
        "/api/v1/me/identity",
        json={"family_name": "Quillfeather", "date_of_birth": "1970-01-01", "ssn": "123456789"},
    )
    with office.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT * FROM users").fetchall()
    text = repr(rows)
    for value in ("Quillfeather", "1970-01-01", "123456789", "123-45-6789"):
        assert value not in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"family_name": "---", "date_of_birth": "1970-01-01"}, "family_name"),
        ({"family_name": "Doe", "date_of_birth": "1970-01-01", "ssn": "12"}, "ssn"),
        ({"family_name": "Doe", "date_of_birth": "not a date"}, "date_of_birth"),
    ],
)
def test_a_malformed_identity_is_a_plain_422(
    office: Office, body: dict[str, str], field: str
) -> None:
    answer = office.call("reviewer", "PUT", "/api/v1/me/identity", json=body)
    assert answer.status_code == 422
    assert field in answer.json()["detail"]
