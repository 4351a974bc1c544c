"""Every API operation by every role, walked against the running app on both backends.

A route without a row here fails ``test_every_route_has_a_row``: deciding who may call a
new route is part of adding it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from bgcheck.audit import AuditActor
from bgcheck.cases import service as case_service
from bgcheck.cases.service import CaseContext
from bgcheck.identity import proposals
from bgcheck.identity import users as user_service
from bgcheck.identity.actors import Actor, load_actor
from bgcheck.models import JobStatus, OutboxJob, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Event, Role

from support.auth import access_token
from support.cases import ASSESSMENT, CASE, CONSENT, IDENTITY, answer_order, to_pending_review
from support.factories import PASSWORD, make_user
from support.mfa import enroll

ROLES = ("anonymous", "hr", "reviewer", "manager", "auditor", "admin")
EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}


@dataclass
class World:
    client: TestClient
    app: FastAPI
    engine: Engine
    users: dict[str, uuid.UUID] = field(default_factory=dict)

    def token(self, role: str) -> str:
        return access_token(self.app, self.users[role])

    def signing_in(self) -> dict[str, Any]:
        """The sign-in form of a new account with an authenticator app: its codes are
        good once each, and every role signs in here."""
        email = f"login-{unique()}@example.edu"
        with session_scope(self.engine) as session:
            user = make_user(session, Role.AUDITOR, email=email, password=PASSWORD)
            app = enroll(session, self.app.state.auth.secret_box, user.id)
        return {"data": {"username": email, "password": PASSWORD, "otp": app.code()}}

    def new_user(self, *roles: Role) -> uuid.UUID:
        with session_scope(self.engine) as session:
            return make_user(session, *roles).id

    def actor(self, role: str) -> Actor:
        with session_scope(self.engine) as session:
            actor = load_actor(session, self.users[role])
        assert actor is not None
        return actor

    def new_case(self) -> uuid.UUID:
        with session_scope(self.engine) as session:
            return case_service.create_case(
                session, self.ctx, self.actor("hr"), body=CASE, now=utcnow()
            ).id

    def fire(
        self, who: str, case_id: uuid.UUID, event: Event, body: dict | None = None
    ) -> str | None:
        with session_scope(self.engine) as session:
            outcome = case_service.fire(
                session,
                self.ctx,
                self.actor(who),
                case_id=case_id,
                event=event,
                body=body or {},
                expected_version=None,
                now=utcnow(),
            )
        return outcome.portal_token

    def invited(self) -> tuple[uuid.UUID, str]:
        case_id = self.new_case()
        token = self.fire("hr", case_id, Event.INVITE)
        assert token is not None
        return case_id, token

    def in_notice(self) -> str:
        """A case in its waiting period; the candidate's notice link."""
        return self.notice_case()[1]

    def notice_case(self) -> tuple[uuid.UUID, str]:
        """A case in its waiting period, and the candidate's notice link."""
        case_id, token = self.invited()
        with session_scope(self.engine) as session:
            case_service.fire_as_candidate(
                session, self.ctx, token=token, event=Event.CONSENT, body=CONSENT, now=utcnow()
            )
        self.fire("hr", case_id, Event.VERIFY_IDENTITY, IDENTITY)
        self.fire("hr", case_id, Event.ORDER)
        with session_scope(self.engine) as session:
            answer_order(session, self.ctx, case_id, utcnow())
        self.fire("reviewer", case_id, Event.CLAIM)
        self.fire("reviewer", case_id, Event.PROPOSE_ADVERSE, ASSESSMENT)
        notice = self.fire("manager", case_id, Event.APPROVE_ADVERSE)
        assert notice is not None
        return case_id, notice

    def reported(self) -> uuid.UUID:
        """A case in review, its vendor report stored."""
        with session_scope(self.engine) as session:
            return to_pending_review(session, self.ctx, self.actor("hr"), utcnow())

    def dead_job(self) -> uuid.UUID:
        case_id = self.new_case()
        with session_scope(self.engine) as session:
            job = OutboxJob(
                case_id=case_id,
                kind="vendor_sync",
                idempotency_key=f"test:{uuid.uuid4()}",
                status=JobStatus.DEAD,
            )
            session.add(job)
            return job.id

    def pending_grant(self) -> uuid.UUID:
        """A reviewer role the admin proposed for a new account, waiting for a manager."""
        admin = AuditActor.user(self.users["admin"])
        with session_scope(self.engine) as session:
            user = user_service.create_user(
                session,
                admin,
                email=f"{unique()}@example.edu",
                display_name="",
                roles=[Role.REVIEWER],
            )
            (approval,) = proposals.pending(session, user_id=user.id)
            return approval.id

    @property
    def ctx(self) -> CaseContext:
        return self.app.state.cases


Request = dict[str, Any]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    allowed: frozenset[str]
    success: int = 200
    request: Callable[[World], Request] = lambda _world: {}
    refused: int | None = None  # when not 401/403 by role


NOBODY: frozenset[str] = frozenset()
READERS = frozenset({"hr", "reviewer", "manager", "auditor"})
REVIEWERS = frozenset({"reviewer", "manager"})
AUDIT = frozenset({"manager", "auditor"})


def unique() -> str:
    return uuid.uuid4().hex[:8]


OPS = [
    Op("GET", "/healthz", EVERYONE),
    Op("GET", "/readyz", EVERYONE),
    # Loopback clients or the metrics token only (the world's client is neither): an
    # unknown path's 404 for everyone here, bearer tokens or not (test_metrics_access.py).
    Op("GET", "/metrics", NOBODY, refused=404),
    Op(
        "POST",
        "/api/v1/auth/token",
        EVERYONE,
        request=lambda w: w.signing_in(),
    ),
    Op("POST", "/api/v1/auth/logout", SIGNED_IN, success=204),
    Op("GET", "/api/v1/me", SIGNED_IN),
    Op(
        "PUT",
        "/api/v1/me/identity",
        SIGNED_IN,
        success=204,
        request=lambda w: {"json": {"family_name": "Tester", "date_of_birth": "1980-02-03"}},
    ),
    Op("GET", "/api/v1/departments", SIGNED_IN),
    Op(
        "POST",
        "/api/v1/departments",
        frozenset({"admin"}),
        success=201,
        request=lambda w: {"json": {"code": f"D{unique()}", "name": "New department"}},
    ),
    Op("GET", "/api/v1/users", frozenset({"admin"})),
    Op(
        "POST",
        "/api/v1/users",
        frozenset({"admin"}),
        success=201,
        request=lambda w: {"json": {"email": f"{unique()}@example.edu", "roles": ["auditor"]}},
    ),
    Op("GET", "/api/v1/users/need-to-know", frozenset({"manager", "auditor"})),
    Op(
        "GET",
        "/api/v1/users/{user_id}",
        frozenset({"admin"}),
        request=lambda w: {"path": {"user_id": w.users["reviewer"]}},
    ),
    Op(
        "PUT",
        "/api/v1/users/{user_id}/roles",
        frozenset({"admin"}),
        request=lambda w: {
            "path": {"user_id": w.new_user(Role.AUDITOR)},
            "json": {"roles": ["auditor", "reviewer"]},
        },
    ),
    Op(
        "PUT",
        "/api/v1/users/{user_id}/departments",
        frozenset({"admin"}),
        request=lambda w: {
            "path": {"user_id": w.new_user(Role.HR)},
            "json": {"departments": ["FAC", "ATH"]},
        },
    ),
    Op(
        "POST",
        "/api/v1/users/{user_id}/password-link",
        frozenset({"admin"}),
        request=lambda w: {"path": {"user_id": w.new_user(Role.AUDITOR)}},
    ),
    Op(
        "POST",
        "/api/v1/users/{user_id}/mfa-reset",
        frozenset({"admin"}),
        success=202,
        request=lambda w: {"path": {"user_id": w.new_user(Role.AUDITOR)}},
    ),
    Op("GET", "/api/v1/approvals", frozenset({"admin", "manager"})),
    Op(
        "POST",
        "/api/v1/approvals/{approval_id}/approve",
        frozenset({"manager"}),
        request=lambda w: {"path": {"approval_id": w.pending_grant()}},
    ),
    Op(
        "POST",
        "/api/v1/approvals/{approval_id}/reject",
        frozenset({"manager"}),
        request=lambda w: {
            "path": {"approval_id": w.pending_grant()},
            "json": {"reason": "not this person's job"},
        },
    ),
    Op(
        "POST",
        "/api/v1/users/{user_id}/disable",
        frozenset({"admin"}),
        request=lambda w: {"path": {"user_id": w.new_user(Role.AUDITOR)}},
    ),
    Op(
        "POST",
        "/api/v1/users/{user_id}/enable",
        frozenset({"admin"}),
        request=lambda w: {"path": {"user_id": w.new_user(Role.AUDITOR)}},
    ),
    Op("POST", "/api/v1/cases", frozenset({"hr"}), success=201, request=lambda w: {"json": CASE}),
    Op("GET", "/api/v1/cases", READERS),
    Op(
        "POST",
        "/api/v1/cases/search",
        frozenset({"hr", "reviewer", "manager"}),
        request=lambda w: {"json": {"email": "pat@example.org"}},
    ),
    Op(
        "GET",
        "/api/v1/cases/{case_id}",
        READERS,
        request=lambda w: {"path": {"case_id": w.new_case()}},
    ),
    Op(
        "POST",
        "/api/v1/cases/{case_id}/events/{event}",
        frozenset({"hr", "manager"}),
        request=lambda w: {
            "path": {"case_id": w.new_case(), "event": "cancel"},
            "json": {"reason": "the position was withdrawn"},
        },
    ),
    Op(
        "GET",
        "/api/v1/cases/{case_id}/history",
        READERS,
        request=lambda w: {"path": {"case_id": w.new_case()}},
    ),
    Op(
        "GET",
        "/api/v1/cases/{case_id}/pii",
        REVIEWERS,
        request=lambda w: {"path": {"case_id": w.new_case()}},
    ),
    Op(
        "GET",
        "/api/v1/cases/{case_id}/notices",
        REVIEWERS,
        request=lambda w: {"path": {"case_id": w.new_case()}},
    ),
    Op(
        "POST",
        "/api/v1/cases/{case_id}/notice-link",
        REVIEWERS,
        request=lambda w: {"path": {"case_id": w.notice_case()[0]}},
    ),
    Op(
        "GET",
        "/api/v1/cases/{case_id}/report",
        REVIEWERS,
        request=lambda w: {"path": {"case_id": w.reported()}},
    ),
    # Only a signature authenticates a webhook: a bearer token does not, whoever's it is.
    Op(
        "POST",
        "/api/v1/vendors/{vendor}/webhook",
        EVERYONE,
        success=401,
        request=lambda w: {"path": {"vendor": "sandbox"}, "content": b"{}"},
    ),
    Op("GET", "/api/v1/admin/jobs", frozenset({"admin"})),
    Op(
        "POST",
        "/api/v1/admin/jobs/{job_id}/retry",
        frozenset({"admin"}),
        request=lambda w: {"path": {"job_id": w.dead_job()}},
    ),
    # Issue 7: auditors and managers export and verify the trail and read the CORI log.
    Op("GET", "/api/v1/audit/events", AUDIT, request=lambda w: {"params": {"format": "csv"}}),
    Op("GET", "/api/v1/audit/verify", AUDIT),
    Op("GET", "/api/v1/audit/dissemination", AUDIT),
    # The portal takes no account: the link's token is the credential, for anyone holding it.
    Op(
        "GET",
        "/api/v1/portal/{token}",
        EVERYONE,
        request=lambda w: {"path": {"token": w.invited()[1]}},
    ),
    Op(
        "POST",
        "/api/v1/portal/{token}/consent",
        EVERYONE,
        success=204,
        request=lambda w: {"path": {"token": w.invited()[1]}, "json": CONSENT},
    ),
    Op(
        "POST",
        "/api/v1/portal/{token}/dispute",
        EVERYONE,
        success=204,
        request=lambda w: {
            "path": {"token": w.in_notice()},
            "json": {"statement": "That record belongs to someone else."},
        },
    ),
]


@pytest.fixture(scope="module")
def world(databases, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    engine = databases.new_engine()
    settings = Settings(data_dir=tmp_path_factory.mktemp("access"), embedded_worker=False)
    app = create_app(settings, engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        world = World(client, app, engine)
        with session_scope(engine) as session:
            for role in ROLES[1:]:
                world.users[role] = make_user(session, Role(role)).id
            make_user(session, Role.HR, departments=("ATH",))
            make_user(session, Role.HR, departments=("ATH",))
        yield world
    engine.dispose()


def expected(op: Op, role: str) -> int:
    if role in op.allowed:
        return op.success
    if op.refused is not None:
        return op.refused
    return 401 if role == "anonymous" else 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", OPS, ids=lambda op: f"{op.method} {op.path}")
def test_operation_by_role(world: World, op: Op, role: str) -> None:
    request = op.request(world)
    path = op.path.format(**request.pop("path", {}))
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {world.token(role)}"}
    response = world.client.request(op.method, path, headers=headers, **request)
    assert response.status_code == expected(op, role), response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


def test_every_route_has_a_row(world: World) -> None:
    # The OpenAPI document is the public surface: every route of every included router.
    routes = {
        (method.upper(), path)
        for path, operations in world.app.openapi()["paths"].items()
        for method in operations
    }
    rows = {(op.method, op.path) for op in OPS}
    assert routes - rows == set(), "add a row to OPS for each new route"
    assert rows - routes == set(), "a row names a route that no longer exists"
