"""Behind a reverse proxy (issue 15): each visitor is counted under their own address.

Without ``BGCHECK_FORWARDED_ALLOW_IPS`` every visitor behind a proxy shares the proxy's
address, so one person's failed logins lock everyone out. With it, the client address
comes from ``X-Forwarded-For`` (the right-most hop that is not a trusted proxy), but
only when the TCP peer is a trusted proxy: anyone else's header is ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from api.app import create_app
from api.pages.web import LOGIN_COOKIE
from bgcheck.models import AuditEvent
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings

PROXY = ("10.0.0.5", 44000)
STRANGER = ("203.0.113.50", 44000)


@pytest.fixture
def make_app(fresh_engine, tmp_path) -> Callable[..., FastAPI]:  # type: ignore[no-untyped-def]
    engine: Engine = fresh_engine()

    def make(**settings: object) -> FastAPI:
        config = Settings(
            data_dir=tmp_path,
            embedded_worker=False,
            login_max_failures=100,
            login_max_failures_per_address=2,
            **settings,  # type: ignore[arg-type]
        )
        return create_app(config, engine)

    return make


def fail_login(app: FastAPI, peer: tuple[str, int], forwarded_for: str | None) -> httpx.Response:
    """A wrong password for an unknown account (each time another), so only the
    address's count can block it."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with TestClient(app, client=peer) as client:
        return client.post(
            "/api/v1/auth/token",
            data={"username": f"{uuid.uuid4().hex[:8]}@example.edu", "password": "wrong!"},
            headers=headers,
        )


def statuses(app: FastAPI, peer: tuple[str, int], forwarded_for: str | None, n: int) -> list[int]:
    return [fail_login(app, peer, forwarded_for).status_code for _ in range(n)]


def audited_addresses(app: FastAPI) -> list[str]:
    with session_scope(app.state.engine, read_only=True) as session:
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action).startswith("login."))
        ).all()
        return [event.data["address"] for event in events]


def test_without_the_setting_everyone_behind_the_proxy_shares_one_count(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    assert statuses(app, PROXY, "198.51.100.1", 3) == [401, 401, 429]
    assert statuses(app, PROXY, "198.51.100.2", 1) == [429]  # locked out by someone else


def test_visitors_behind_a_trusted_proxy_are_throttled_separately(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(forwarded_allow_ips="10.0.0.0/24")
    assert statuses(app, PROXY, "198.51.100.1", 3) == [401, 401, 429]
    assert statuses(app, PROXY, "198.51.100.2", 2) == [401, 401]
    assert set(audited_addresses(app)) == {"198.51.100.1", "198.51.100.2"}


def test_the_right_most_untrusted_hop_counts_not_what_the_visitor_wrote(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(forwarded_allow_ips="10.0.0.5")
    # The visitor sends a made-up X-Forwarded-For; the proxy appends the address it saw.
    for made_up in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        fail_login(app, PROXY, f"{made_up}, 198.51.100.7")
    assert set(audited_addresses(app)) == {"198.51.100.7"}
    assert statuses(app, PROXY, "192.0.2.4, 198.51.100.7", 1) == [429]


def test_an_untrusted_peer_cannot_choose_its_address(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(forwarded_allow_ips="10.0.0.5")
    codes = [
        fail_login(app, STRANGER, forwarded_for).status_code
        for forwarded_for in ("192.0.2.1", "192.0.2.2", "192.0.2.3")
    ]
    assert codes == [401, 401, 429]
    assert set(audited_addresses(app)) == {STRANGER[0]}


def test_the_forwarded_scheme_is_believed_only_from_a_trusted_proxy(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(forwarded_allow_ips="10.0.0.5")
    https = {"X-Forwarded-Proto": "https"}
    for peer, secure in ((PROXY, True), (STRANGER, False)):
        with TestClient(app, client=peer) as client:
            cookie = client.get("/login", headers=https).headers["set-cookie"]
        assert cookie.startswith(LOGIN_COOKIE)
        assert ("secure" in cookie.lower()) is secure
