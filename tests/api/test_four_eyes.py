"""Admin alone never reads PII (issue 15, hole 2): no self-granted roles, no chosen
passwords, and a role that reads PII only with a second person's approval."""

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
from bgcheck.identity import mfa
from bgcheck.models import AuditEvent, User
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.auth import access_token
from support.factories import make_department, make_user
from support.mfa import enroll

GOOD_PASSWORD = "quiet harbor lantern 2031"


@dataclass
class Office:
    client: TestClient
    engine: Engine
    users: dict[str, uuid.UUID]

    def call(self, who: str | uuid.UUID, method: str, path: str, **kwargs: Any) -> Any:
        user_id = self.users[who] if isinstance(who, str) else who
        token = access_token(self.client.app, user_id)  # type: ignore[arg-type]
        return self.client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    def create(self, *roles: str, **extra: Any) -> Any:
        body = {"email": f"{uuid.uuid4().hex[:8]}@example.edu", "roles": list(roles), **extra}
        return self.call("admin", "POST", "/api/v1/users", json=body)

    def pending(self) -> list[dict[str, Any]]:
        answer = self.call("manager", "GET", "/api/v1/approvals")
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def actions(self) -> list[str]:
        with session_scope(self.engine, read_only=True) as session:
            statement = select(AuditEvent.action).order_by(col(AuditEvent.seq))
            return list(session.exec(statement).all())


@pytest.fixture
def office(fresh_engine, tmp_path) -> Iterator[Office]:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()
    app = create_app(Settings(data_dir=tmp_path, embedded_worker=False), engine)
    with session_scope(engine) as session:
        make_department(session)
        users = {
            "admin": make_user(session, Role.ADMIN).id,
            "manager": make_user(session, Role.MANAGER).id,
            "other_manager": make_user(session, Role.MANAGER).id,
            "admin_manager": make_user(session, Role.ADMIN, Role.MANAGER).id,
        }
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Office(client, engine, users)


def test_an_admin_cannot_give_itself_a_role(office: Office) -> None:
    me = office.users["admin"]
    for roles in (["admin", "reviewer"], ["admin", "auditor"]):
        refused = office.call("admin", "PUT", f"/api/v1/users/{me}/roles", json={"roles": roles})
        assert refused.status_code == 403, refused.text
        assert "own roles" in refused.json()["detail"]
    assert office.call("admin", "GET", "/api/v1/cases").status_code == 403
    refused = office.call(
        "admin", "PUT", f"/api/v1/users/{me}/departments", json={"departments": ["FAC"]}
    )
    assert refused.status_code == 403


def test_an_admin_cannot_choose_a_password_for_anyone(office: Office) -> None:
    refused = office.create("reviewer", password=GOOD_PASSWORD)
    assert refused.status_code == 422
    assert "set-password link" in refused.json()["detail"]
    refused = office.create("auditor", password=GOOD_PASSWORD)
    assert refused.status_code == 422


def test_a_reviewer_role_does_nothing_until_another_manager_approves(office: Office) -> None:
    created = office.create("reviewer")
    assert created.status_code == 201, created.text
    account = created.json()
    assert (account["roles"], account["pending_roles"]) == ([], ["reviewer"])
    assert account["set_password_url"].startswith("http://127.0.0.1:8000/set-password/")
    newcomer = uuid.UUID(account["id"])
    assert office.call(newcomer, "GET", "/api/v1/cases").status_code == 403

    (approval,) = office.pending()
    assert (approval["kind"], approval["role"], approval["user_id"]) == (
        "grant_role",
        "reviewer",
        account["id"],
    )
    approved = office.call("manager", "POST", f"/api/v1/approvals/{approval['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert office.call(newcomer, "GET", "/api/v1/cases").status_code == 200
    assert office.pending() == []
    assert {"approval.proposed", "approval.approved", "user.roles_changed"} <= set(office.actions())


def test_the_proposer_and_the_person_concerned_cannot_approve(office: Office) -> None:
    body = {"email": "new.manager@example.edu", "roles": ["manager"]}
    created = office.call("admin_manager", "POST", "/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    (approval,) = office.pending()
    refused = office.call("admin_manager", "POST", f"/api/v1/approvals/{approval['id']}/approve")
    assert refused.status_code == 403
    assert "you proposed" in refused.json()["detail"]
    # A manager who is the subject of a pending grant cannot approve it either.
    target = office.users["other_manager"]
    office.call(
        "admin", "PUT", f"/api/v1/users/{target}/roles", json={"roles": ["manager", "reviewer"]}
    )
    grant = next(a for a in office.pending() if a["user_id"] == str(target))
    refused = office.call("other_manager", "POST", f"/api/v1/approvals/{grant['id']}/approve")
    assert refused.status_code == 403
    assert "about you" in refused.json()["detail"]
    # An administrator without the manager role cannot decide at all.
    assert (
        office.call("admin", "POST", f"/api/v1/approvals/{grant['id']}/approve").status_code == 403
    )


def test_a_rejected_role_is_never_granted(office: Office) -> None:
    account = office.create("reviewer").json()
    (approval,) = office.pending()
    path = f"/api/v1/approvals/{approval['id']}/reject"
    assert office.call("manager", "POST", path, json={"reason": " "}).status_code == 422
    rejected = office.call("manager", "POST", path, json={"reason": "not on the EM team"})
    assert rejected.status_code == 200
    assert rejected.json()["reason"] == "not on the EM team"
    again = office.call("other_manager", "POST", f"/api/v1/approvals/{approval['id']}/approve")
    assert again.status_code == 409
    read = office.call("admin", "GET", f"/api/v1/users/{account['id']}").json()
    assert (read["roles"], read["pending_roles"]) == ([], [])


def test_removing_a_role_is_immediate_and_withdraws_the_proposal(office: Office) -> None:
    account = office.create("auditor", "reviewer").json()
    user = account["id"]
    changed = office.call(
        "admin", "PUT", f"/api/v1/users/{user}/roles", json={"roles": ["auditor"]}
    )
    assert changed.status_code == 200
    assert (changed.json()["roles"], changed.json()["pending_roles"]) == (["auditor"], [])
    assert office.pending() == []
    assert "approval.withdrawn" in office.actions()


@pytest.mark.parametrize("roles", [["hr", "reviewer"], ["hr", "manager"]])
def test_hr_is_never_held_with_a_role_that_adjudicates(office: Office, roles: list[str]) -> None:
    refused = office.create(*roles, departments=["FAC"])
    assert refused.status_code == 422
    assert "separation of duties" in refused.json()["detail"]
    hr = office.create("hr", departments=["FAC"]).json()["id"]
    refused = office.call("admin", "PUT", f"/api/v1/users/{hr}/roles", json={"roles": roles})
    assert refused.status_code == 422


def test_the_set_password_link_works_once_and_a_new_one_replaces_it(office: Office) -> None:
    account = office.create("auditor").json()
    first = account["set_password_url"].split("/set-password/")[1]
    again = office.call("admin", "POST", f"/api/v1/users/{account['id']}/password-link")
    assert again.status_code == 200
    second = again.json()["set_password_url"].split("/set-password/")[1]
    assert office.client.get(f"/set-password/{first}").status_code == 404  # replaced

    page = office.client.get(f"/set-password/{second}")
    assert page.status_code == 200
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    weak = {"csrf_token": csrf, "password": "password1234", "password_again": "password1234"}
    shown = office.client.post(f"/set-password/{second}", data=weak)
    assert shown.status_code == 422
    assert "New password:" in shown.text
    mismatch = {"csrf_token": csrf, "password": GOOD_PASSWORD, "password_again": "other"}
    assert "does not match" in office.client.post(f"/set-password/{second}", data=mismatch).text
    good = {"csrf_token": csrf, "password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD}
    done = office.client.post(f"/set-password/{second}", data=good)
    assert done.status_code == 200
    assert "Your password is set" in done.text
    assert office.client.post(f"/set-password/{second}", data=good).status_code == 404
    assert "user.password_set" in office.actions()


def test_a_second_factor_is_reset_only_when_another_manager_approves(office: Office) -> None:
    with session_scope(office.engine) as session:
        target = make_user(session, Role.REVIEWER).id
        box = mfa.SecretBox.for_keyring(office.client.app.state.cases.vault.keyring)  # type: ignore[attr-defined]
        enroll(session, box, target)

    def enrolled() -> bool:
        with session_scope(office.engine, read_only=True) as session:
            user = session.get(User, target)
            assert user is not None
            return mfa.is_enrolled(user)

    me = office.users["admin"]
    refused = office.call("admin", "POST", f"/api/v1/users/{me}/mfa-reset")
    assert refused.status_code == 403
    proposed = office.call("admin", "POST", f"/api/v1/users/{target}/mfa-reset")
    assert proposed.status_code == 202
    assert proposed.json()["kind"] == "reset_mfa"
    assert enrolled()  # a proposal does nothing
    approval = proposed.json()["id"]
    assert office.call("admin", "POST", f"/api/v1/approvals/{approval}/approve").status_code == 403
    approved = office.call("manager", "POST", f"/api/v1/approvals/{approval}/approve")
    assert approved.status_code == 200, approved.text
    assert not enrolled()
    assert {"approval.proposed", "mfa.reset", "approval.approved"} <= set(office.actions())
