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
from support.factories import PASSWORD, make_user

from api.app import create_app
from bgcheck import tokens
from bgcheck.db import session_scope
from bgcheck.models import utcnow
from bgcheck.settings import Settings
from workflow import Role

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
        token, _ = tokens.issue(
            self.app.state.auth.own,
            subject=str(self.users[role]),
            now=utcnow(),
            lifetime=self.app.state.auth.token_lifetime,
        )
        return token

    def new_user(self, *roles: Role) -> uuid.UUID:
        with session_scope(self.engine) as session:
            return make_user(session, *roles).id


Request = dict[str, Any]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    allowed: frozenset[str]
    success: int = 200
    request: Callable[[World], Request] = lambda _world: {}


def unique() -> str:
    return uuid.uuid4().hex[:8]


OPS = [
    Op("GET", "/healthz", EVERYONE),
    Op("GET", "/readyz", EVERYONE),
    Op("GET", "/metrics", EVERYONE),
    Op(
        "POST",
        "/api/v1/auth/token",
        EVERYONE,
        request=lambda w: {"data": {"username": "login@example.edu", "password": PASSWORD}},
    ),
    Op("POST", "/api/v1/auth/logout", SIGNED_IN, success=204),
    Op("GET", "/api/v1/me", SIGNED_IN),
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
            make_user(session, Role.AUDITOR, email="login@example.edu", password=PASSWORD)
        yield world
    engine.dispose()


def expected(op: Op, role: str) -> int:
    if role in op.allowed:
        return op.success
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
