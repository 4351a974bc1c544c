"""Driving the server-rendered pages from a TestClient: sessions and CSRF tokens."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from api.pages.web import SESSION_COOKIE, WebSessions
from bgcheck.cases import service as case_service
from bgcheck.cases.service import CaseContext
from bgcheck.identity.actors import Actor, load_actor
from bgcheck.models import Case, DocumentKind, utcnow
from bgcheck.platform.db import session_scope
from workflow import Event, Role, State

from support.auth import access_token
from support.cases import ASSESSMENT, CASE, CONSENT, IDENTITY
from support.mfa import Authenticator

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ERROR = re.compile(r'class="error-message"[^>]*>(?:<span[^>]*>Error:</span>)?\s*(.*?)</p>', re.S)


def session_token(
    app: FastAPI, user_id: uuid.UUID, *, now: datetime | None = None, sid: str | None = None
) -> str:
    """A real page session for ``user_id``, as signing in would give (no argon2)."""
    now = now or utcnow()
    return WebSessions.for_app(app).issue(
        user_id, sid=sid or secrets.token_urlsafe(16), auth_time=int(now.timestamp()), now=now
    )


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def error_messages(html: str) -> list[str]:
    return [message.strip() for message in _ERROR.findall(html)]


def sign_in(
    client: TestClient, email: str, password: str, app: Authenticator | None = None
) -> httpx.Response:
    """The sign-in form, as a person fills it in: the password, then (when it was right and
    the page asks for it) the code from ``app``. The answer to the last form sent."""
    form = client.get("/login")
    assert form.status_code == 200
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    if app is None or response.headers.get("location") != "/login/code":
        return response
    page = client.get("/login/code")
    assert page.status_code == 200, page.text
    return client.post(
        "/login/code",
        data={"code": app.code(), "method": "totp", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


@dataclass
class Staff:
    """One signed-in browser: its own cookies, its own CSRF token."""

    app: FastAPI
    user_id: uuid.UUID
    client: TestClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.client.cookies.set(SESSION_COOKIE, session_token(self.app, self.user_id))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, follow_redirects=False, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """Submit a form with this session's CSRF token (read from the home page)."""
        form = {"csrf_token": self.csrf(), **(data or {})}
        return self.client.post(path, data=form, follow_redirects=False, **kwargs)

    def csrf(self) -> str:
        return csrf_of(self.get("/").text)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The API, as the same user, for comparing what it shows with the pages."""
        headers = {"Authorization": f"Bearer {access_token(self.app, self.user_id)}"}
        return TestClient(self.app).request(method, path, headers=headers, **kwargs)


def fire(
    engine: Engine,
    ctx: CaseContext,
    actor: Any,
    case_id: uuid.UUID,
    event: Event,
    body: dict[str, Any] | None = None,
) -> str | None:
    with session_scope(engine) as session:
        outcome = case_service.fire(
            session,
            ctx,
            actor,
            case_id=case_id,
            event=event,
            body=body or {},
            expected_version=None,
            now=utcnow(),
        )
    return outcome.portal_token


ROLES = ("hr", "other_hr", "reviewer", "manager", "auditor", "admin")
OFFENSE = "Larceny over $1,200 (Quillfeather County)"
REPORT = {
    "vendor": "Sandbox Screening (test vendor)",
    "reference": "SBX-TEST-1",
    "package": "standard",
    "result": "consider",
    "completed_at": "2026-01-05T15:00:00+00:00",
    "checks": [
        {
            "name": "Massachusetts CORI",
            "status": "consider",
            "completed_at": None,
            "findings": [
                {
                    "jurisdiction": "Suffolk County, MA",
                    "offense": OFFENSE,
                    "severity": "felony",
                    "disposition": "Guilty",
                    "offense_date": "2016-03-14",
                    "disposition_date": "2017-09-01",
                    "source": "MA iCORI",
                }
            ],
        }
    ],
}


@dataclass
class Office:
    app: FastAPI
    engine: Engine
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    browsers: dict[str, Staff] = field(default_factory=dict)

    @property
    def ctx(self) -> CaseContext:
        return self.app.state.cases

    def staff(self, role: str) -> Staff:
        if role not in self.browsers:
            self.browsers[role] = Staff(self.app, self.users[role])
        return self.browsers[role]

    def anonymous(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False)

    def actor(self, role: str) -> Actor:
        with session_scope(self.engine) as session:
            actor = load_actor(session, self.users[role])
        assert actor is not None
        return actor

    def fire(self, role: str, case_id: uuid.UUID, event: Event, body: Any = None) -> str | None:
        return fire(self.engine, self.ctx, self.actor(role), case_id, event, body)

    def case(self, case_id: uuid.UUID) -> Case:
        with session_scope(self.engine, read_only=True) as session:
            found = session.exec(select(Case).where(Case.id == case_id)).one()
            session.expunge(found)
        return found

    def new_case(self, body: dict[str, Any] | None = None) -> uuid.UUID:
        with session_scope(self.engine) as session:
            return case_service.create_case(
                session, self.ctx, self.actor("hr"), body=body or CASE, now=utcnow()
            ).id

    def invited(self) -> tuple[uuid.UUID, str]:
        case_id = self.new_case()
        token = self.fire("hr", case_id, Event.INVITE)
        assert token is not None
        return case_id, token

    def consented(self, consent: dict[str, Any] | None = None) -> uuid.UUID:
        case_id, token = self.invited()
        with session_scope(self.engine) as session:
            case_service.fire_as_candidate(
                session,
                self.ctx,
                token=token,
                event=Event.CONSENT,
                body=consent or CONSENT,
                now=utcnow(),
            )
        return case_id

    def vendor_reports(self, case_id: uuid.UUID) -> None:
        """The vendor completes the order with ``REPORT`` (its findings are known strings
        the leak tests look for), stored as the vendor adapter stores it."""
        with session_scope(self.engine) as session:
            case_service.fire_as_system(
                session,
                self.ctx,
                case_id=case_id,
                event=Event.VENDOR_COMPLETE,
                body={"result": "consider"},
                now=utcnow(),
                as_role=Role.VENDOR,
            )
            self.ctx.vault.add_document(session, case_id, DocumentKind.REPORT, REPORT)

    def in_review(self, consent: dict[str, Any] | None = None, *, claim: bool = True) -> uuid.UUID:
        """Past the vendor, with a stored report (as the vendor adapter stores it)."""
        case_id = self.consented(consent)
        self.fire("hr", case_id, Event.VERIFY_IDENTITY, IDENTITY)
        self.fire("hr", case_id, Event.ORDER)
        self.vendor_reports(case_id)
        if claim:
            self.fire("reviewer", case_id, Event.CLAIM)
        return case_id

    def in_notice(self, consent: dict[str, Any] | None = None) -> tuple[uuid.UUID, str]:
        case_id = self.in_review(consent)
        self.fire("reviewer", case_id, Event.PROPOSE_ADVERSE, ASSESSMENT)
        token = self.fire("manager", case_id, Event.APPROVE_ADVERSE)
        assert token is not None
        return case_id, token

    def state(self, case_id: uuid.UUID) -> State:
        return self.case(case_id).state
