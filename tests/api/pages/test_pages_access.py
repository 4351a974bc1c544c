"""Every page by every role: the answer each gets, like tests/api/test_access.py for the API.

Anonymous visitors of staff pages are sent to the sign-in page; a role that may never
do something gets 403; another department's case is 404, as in the API. A page route
without a row here fails ``test_every_page_route_has_a_row``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import select

from api.pages.web import PageRoute
from bgcheck.audit import AuditActor
from bgcheck.identity import account_links, proposals
from bgcheck.identity import users as user_service
from bgcheck.models import JobStatus, OutboxJob, utcnow
from bgcheck.platform.db import session_scope
from workflow import Role

from support.cases import CASE, CONSENT
from support.factories import TEST_ACTOR, make_user
from support.pages import Office, Staff, csrf_of

ROLES = ("anonymous", "hr", "other_hr", "reviewer", "manager", "auditor", "admin")
STAFF = frozenset(ROLES) - {"anonymous"}
CASE_READERS = frozenset({"hr", "reviewer", "manager", "auditor"})  # a FAC case
REVIEW = frozenset({"reviewer", "manager"})
AUDIT = frozenset({"manager", "auditor"})

Request = dict[str, Any]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    # role -> status; roles not listed get ``otherwise`` (403), anonymous gets the
    # sign-in redirect unless the page is public.
    expect: dict[str, int]
    request: Callable[[Office], Request] = lambda _office: {}
    public: bool = False
    otherwise: int = 403


def each(roles: frozenset[str], status: int) -> dict[str, int]:
    return dict.fromkeys(roles, status)


def draft(office: Office) -> Request:
    return {"path": {"case_id": office.new_case()}}


def reviewed(office: Office) -> Request:
    return {"path": {"case_id": office.in_review()}}


def raw_form(data: dict[str, str]) -> Callable[[Office], Request]:
    return lambda _office: {"data": {"csrf_token": "none", **data}, "raw": True}


def portal_consent(office: Office) -> Request:
    _, token = office.invited()
    csrf = csrf_of(office.anonymous().get(f"/portal/{token}/authorize").text)
    form = {
        "csrf_token": csrf,
        "disclosure_version": CONSENT["disclosure_version"],
        "given_name": "Pat",
        "family_name": "Candidate",
        "date_of_birth": CONSENT["date_of_birth"],
        "ssn": CONSENT["ssn"],
        "phone": CONSENT["phone"],
        "addresses-0-line1": "1 Main St",
        "addresses-0-city": "Boston",
        "addresses-0-state": "MA",
        "addresses-0-postal_code": "02115",
        "addresses-0-from": "2020-06-01",
        "cori_acknowledged": "yes",
        "signature": "Pat Candidate",
    }
    return {"path": {"token": token}, "data": form, "raw": True}


def portal_dispute(office: Office) -> Request:
    _, token = office.in_notice()
    csrf = csrf_of(office.anonymous().get(f"/portal/{token}").text)
    data = {"csrf_token": csrf, "statement": "That record is not mine."}
    return {"path": {"token": token}, "data": data, "raw": True}


def pending_grant(office: Office) -> Request:
    """A reviewer role the admin proposed, waiting for a manager."""
    with session_scope(office.engine) as session:
        user = user_service.create_user(
            session,
            AuditActor.user(office.users["admin"]),
            email=f"{uuid.uuid4().hex[:8]}@example.edu",
            display_name="New Reviewer",
            roles=[Role.REVIEWER],
        )
        (approval,) = proposals.pending(session, user_id=user.id)
        return {"path": {"approval_id": approval.id}, "data": {"decision": "approve"}}


def password_link(office: Office) -> str:
    with session_scope(office.engine) as session:
        user = make_user(session, Role.AUDITOR)
        _, token = account_links.issue(session, TEST_ACTOR, user_id=user.id, now=utcnow())
    return token


def set_password(office: Office) -> Request:
    token = password_link(office)
    csrf = csrf_of(office.anonymous().get(f"/set-password/{token}").text)
    password = "quiet harbor lantern 2031"
    form = {"csrf_token": csrf, "password": password, "password_again": password}
    return {"path": {"token": token}, "data": form}


def dead_job(office: Office) -> Request:
    """An invitation e-mail the mail server refused for good."""
    case_id, _ = office.invited()
    with session_scope(office.engine) as session:
        job = session.exec(select(OutboxJob).where(OutboxJob.case_id == case_id)).one()
        job.status, job.attempts, job.last_error = JobStatus.DEAD, 1, "MailRejected: 550"
        session.add(job)
        return {"path": {"job_id": job.id}}


OPS = [
    Op("GET", "/", each(STAFF, 200)),
    Op("GET", "/login", each(frozenset(ROLES), 200), public=True),
    Op(
        "POST",
        "/login",
        each(frozenset(ROLES), 403),  # no sign-in form cookie: refused before anything
        request=lambda o: {"data": {"email": "x@example.edu", "password": "y"}, "raw": True},
        public=True,
    ),
    Op("POST", "/logout", each(STAFF, 303)),
    # The second step of a password sign-in, without its cookie: the sign-in page again.
    Op("GET", "/login/code", each(frozenset(ROLES), 401), public=True),
    Op("POST", "/login/code", each(frozenset(ROLES), 401), raw_form({"code": "123456"}), True),
    Op("GET", "/login/enroll", each(frozenset(ROLES), 401), public=True),
    Op("POST", "/login/enroll", each(frozenset(ROLES), 401), raw_form({"code": "1"}), True),
    Op("POST", "/login/enroll/done", each(frozenset(ROLES), 401), raw_form({}), True),
    Op("GET", "/account", each(STAFF, 200)),
    # A wrong code (the office's users have no authenticator app): the page, with the error.
    Op("POST", "/account/recovery-codes", each(STAFF, 401), lambda o: {"data": {"code": "1"}}),
    Op("GET", "/account/authenticator", each(STAFF, 200)),
    Op("POST", "/account/authenticator", each(STAFF, 422), lambda o: {"data": {"code": "1"}}),
    Op("GET", "/login/sso", each(frozenset(ROLES), 404), public=True),  # not configured
    Op("GET", "/login/sso/callback", each(frozenset(ROLES), 404), public=True),
    Op(
        "GET",
        "/static/{name}",
        each(frozenset(ROLES), 200),
        request=lambda o: {"path": {"name": "app.css"}},
        public=True,
    ),
    Op("GET", "/cases", each(CASE_READERS | {"other_hr"}, 200)),
    Op("GET", "/cases/new", each(frozenset({"hr", "other_hr"}), 200)),
    Op(
        "POST",
        "/cases/new",
        {"hr": 303, "other_hr": 404},  # FAC is not the other hr's: 404, as in the API
        request=lambda o: {
            "data": {
                "department": CASE["department"],
                "position_title": CASE["position_title"],
                "package": CASE["package"],
                "candidate.given_name": "Pat",
                "candidate.family_name": "Candidate",
                "candidate.email": "pat@example.org",
            }
        },
    ),
    Op("GET", "/review", each(REVIEW, 200)),
    Op("GET", "/audit", each(AUDIT, 200)),
    Op("GET", "/cases/{case_id}", each(CASE_READERS, 200) | {"other_hr": 404}, draft),
    Op(
        "POST",
        "/cases/{case_id}/events/{event}",
        {"hr": 303, "manager": 303, "other_hr": 404},
        lambda o: {
            "path": {"case_id": o.new_case(), "event": "cancel"},
            "data": {"reason": "the position was withdrawn"},
        },
    ),
    Op("POST", "/cases/{case_id}/pii", each(REVIEW, 200), draft),
    Op("POST", "/cases/{case_id}/report", each(REVIEW, 200), reviewed),
    Op("POST", "/audit/events", each(AUDIT, 200), lambda o: {"data": {"format": "csv"}}),
    Op("POST", "/audit/dissemination", each(AUDIT, 200), lambda o: {"data": {"format": "csv"}}),
    Op(
        "GET",
        "/portal/{token}",
        each(frozenset(ROLES), 200),
        lambda o: {"path": {"token": o.invited()[1]}},
        public=True,
    ),
    Op(
        "GET",
        "/portal/{token}/authorize",
        each(frozenset(ROLES), 200),
        lambda o: {"path": {"token": o.invited()[1]}},
        public=True,
    ),
    Op("POST", "/portal/{token}/consent", each(frozenset(ROLES), 200), portal_consent, True),
    Op("POST", "/portal/{token}/dispute", each(frozenset(ROLES), 200), portal_dispute, True),
    Op(
        "GET",
        "/set-password/{token}",
        each(frozenset(ROLES), 200),
        lambda o: {"path": {"token": password_link(o)}},
        public=True,
    ),
    Op("POST", "/set-password/{token}", each(frozenset(ROLES), 200), set_password, True),
    Op("GET", "/approvals", each(frozenset({"admin", "manager"}), 200)),
    Op("POST", "/approvals/{approval_id}", {"manager": 303}, pending_grant),
    Op(
        "POST",
        "/cases/{case_id}/notice-link",
        each(REVIEW, 200) | {"other_hr": 403},
        lambda o: {"path": {"case_id": o.in_notice()[0]}},
    ),
    Op("GET", "/admin/mail", {"admin": 200}),
    # No such message: the admin gets "not found", every other role 403 before the look.
    Op("GET", "/admin/mail/{key}", {"admin": 404}, lambda o: {"path": {"key": "0" * 32}}),
    Op("GET", "/admin/outbox", {"admin": 200}),
    Op("POST", "/admin/outbox/{job_id}/retry", {"admin": 303}, dead_job),
]


def expected(op: Op, role: str) -> int:
    if role == "anonymous" and not op.public:
        return 303
    return op.expect.get(role, op.otherwise)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", OPS, ids=lambda op: f"{op.method} {op.path}")
def test_page_by_role(office: Office, op: Op, role: str) -> None:
    request = op.request(office)
    path = op.path.format(**request.pop("path", {}))
    raw = request.pop("raw", False)
    if role == "anonymous":
        client = office.anonymous()
        response = client.request(op.method, path, follow_redirects=False, **request)
    else:
        # A browser of its own: signing out must not end the shared ones.
        staff = Staff(office.app, office.users[role])
        if op.method == "GET":
            response = staff.get(path)
        elif raw:
            response = staff.client.post(path, follow_redirects=False, **request)
        else:
            response = staff.post(path, request.get("data"))
    assert response.status_code == expected(op, role), response.text[:2000]
    if response.status_code == 303 and role == "anonymous" and not op.public:
        assert response.headers["location"] == "/login"
    if response.headers.get("content-type", "").startswith("text/html"):
        assert "application/problem+json" not in response.headers["content-type"]


def page_routes(routes: Iterable[Any]) -> Iterator[PageRoute]:
    """Every page route, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, PageRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from page_routes(router.routes)


def test_every_page_route_has_a_row(office: Office) -> None:
    routes = {
        (method, route.path) for route in page_routes(office.app.routes) for method in route.methods
    }
    assert ("GET", "/portal/{token}") in routes
    rows = {(op.method, op.path) for op in OPS}
    assert routes - rows == set(), "add a row to OPS for each new page"
    assert rows - routes == set(), "a row names a page that no longer exists"


def test_a_case_id_that_is_not_one_is_a_page_not_a_crash(office: Office) -> None:
    hr = office.staff("hr")
    assert hr.get("/cases/not-a-uuid").status_code == 400
    assert hr.get(f"/cases/{uuid.uuid4()}").status_code == 404
    response = hr.post(f"/cases/{uuid.uuid4()}/events/no_such_event")
    assert response.status_code == 404
    assert re.search(r"<h1>Not found</h1>", response.text)
