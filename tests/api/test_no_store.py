"""No answer that may carry PII is kept by a cache, and none is content-sniffed (issue 15).

Every answer under /api/ (successes, each kind of error, streamed exports) and every
page, error page and unknown path carries ``Cache-Control: no-store`` and
``X-Content-Type-Options: nosniff``. Only the static files choose their own caching.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from bgcheck.models import utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.auth import access_token
from support.cases import case_context, invite, new_case
from support.factories import PASSWORD, make_actor, make_user
from support.pages import Staff


@dataclass
class World:
    app: FastAPI
    client: TestClient
    tokens: dict[str, str]
    staff: Staff
    portal_token: str

    def api(self, method: str, path: str, who: str | None = "auditor", **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.client.request(method, path, headers=headers, **kwargs)


def explosive_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/test")

    @router.get("/explode")
    def explode() -> None:
        raise RuntimeError("a bug")

    return router


@pytest.fixture(scope="module")
def world(databases, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    engine: Engine = databases.new_engine()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("no-store"),
        embedded_worker=False,
        max_body_bytes=1024,
        login_max_failures=1,
    )
    app = create_app(settings, engine)
    app.include_router(explosive_router())
    with session_scope(engine) as session:
        users = {role: make_user(session, Role(role)).id for role in ("auditor", "hr")}
        make_user(session, Role.AUDITOR, email="locked@example.edu", password=PASSWORD)
        hr = make_actor(session, Role.HR)
        ctx = case_context(settings)
        token = invite(session, ctx, hr, new_case(session, ctx, hr, utcnow()), utcnow())
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens = {who: access_token(app, user_id) for who, user_id in users.items()}
        yield World(app, client, tokens, Staff(app, users["hr"]), token)
    engine.dispose()


def throttled(world: World) -> httpx.Response:
    for _ in range(3):
        answer = world.client.post(
            "/api/v1/auth/token", data={"username": "locked@example.edu", "password": "wrong!"}
        )
    return answer


Call = Callable[[World], httpx.Response]
ANSWERS: dict[str, tuple[int, Call]] = {
    "api: me": (200, lambda w: w.api("GET", "/api/v1/me")),
    "api: the case list": (200, lambda w: w.api("GET", "/api/v1/cases", who="hr")),
    "api: the portal": (200, lambda w: w.api("GET", f"/api/v1/portal/{w.portal_token}", None)),
    "api: streamed CSV export": (
        200,
        lambda w: w.api("GET", "/api/v1/audit/events", params={"format": "csv"}),
    ),
    "api: streamed JSONL export": (200, lambda w: w.api("GET", "/api/v1/audit/dissemination")),
    "api: need-to-know CSV": (
        200,
        lambda w: w.api("GET", "/api/v1/users/need-to-know", params={"format": "csv"}),
    ),
    "api: forbidden": (403, lambda w: w.api("GET", "/api/v1/users/need-to-know", who="hr")),
    "api: not signed in": (401, lambda w: w.api("GET", "/api/v1/me", None)),
    "api: a case not found": (404, lambda w: w.api("GET", f"/api/v1/cases/{uuid.uuid4()}")),
    "api: an unknown path": (404, lambda w: w.api("GET", "/api/v1/nothing-here")),
    "api: wrong method": (405, lambda w: w.api("DELETE", "/api/v1/me")),
    "api: body too large": (413, lambda w: w.api("POST", "/api/v1/cases", content=b"{" * 4096)),
    "api: invalid body": (422, lambda w: w.api("POST", "/api/v1/cases", who="hr", json={})),
    "api: throttled": (429, throttled),
    "api: a bug": (500, lambda w: w.api("GET", "/api/v1/test/explode")),
    "page: a case list": (200, lambda w: w.staff.get("/cases")),
    "page: the portal": (200, lambda w: w.staff.get(f"/portal/{w.portal_token}")),
    "page: sign-in": (200, lambda w: w.client.get("/login")),
    "page: a bad case id": (400, lambda w: w.staff.get("/cases/not-a-uuid")),
    "page: an unknown portal link": (404, lambda w: w.client.get("/portal/" + "x" * 43)),
    "page: an unknown path": (404, lambda w: w.client.get("/nothing-here")),
    "page: wrong method": (405, lambda w: w.client.delete("/login")),
    "page: body too large": (413, lambda w: w.client.post("/login", content=b"x" * 4096)),
}


@pytest.mark.parametrize(("status", "call"), ANSWERS.values(), ids=ANSWERS.keys())
def test_answers_are_never_cached_nor_sniffed(world: World, status: int, call: Call) -> None:
    response = call(world)
    assert response.status_code == status, response.text[:300]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_export_is_still_streamed(world: World) -> None:
    with world.client.stream(
        "GET",
        "/api/v1/audit/events",
        params={"format": "csv"},
        headers={"Authorization": f"Bearer {world.tokens['auditor']}"},
    ) as response:
        assert "content-length" not in response.headers
        assert response.headers["cache-control"] == "no-store"
        assert b"".join(response.iter_bytes()).startswith(b"seq,")


def test_static_files_keep_their_own_caching(world: World) -> None:
    response = world.client.get("/static/app.css")
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("public_url", "hsts"),
    [("https://bgcheck.example.edu", True), ("http://127.0.0.1:8000", False)],
)
def test_an_https_installation_sends_hsts_on_every_answer(
    engine: Engine, tmp_path, public_url: str, hsts: bool
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, embedded_worker=False, public_url=public_url)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        for path in ("/login", "/api/v1/me", "/healthz", "/no/such/page"):
            header = client.get(path).headers.get("strict-transport-security")
            assert (header == "max-age=31536000; includeSubDomains") is hsts, path
