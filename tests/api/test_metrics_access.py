"""Who may read /metrics (issue 15): loopback clients, or the holder of the metrics token.

Everyone else gets exactly the 404 of a path that does not exist, a wrong token
included. Behind a trusted proxy on the same host the client is the one the proxy names,
so the proxy does not make every visitor a loopback client.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from bgcheck.platform.settings import Settings, SettingsError, load_settings

TOKEN = "m" * 40
REMOTE = ("203.0.113.9", 41000)
Get = Callable[..., httpx.Response]


@pytest.fixture
def make_app(engine: Engine, tmp_path) -> Callable[..., FastAPI]:  # type: ignore[no-untyped-def]
    def make(**settings: object) -> FastAPI:
        return create_app(
            Settings(data_dir=tmp_path, embedded_worker=False, **settings),  # type: ignore[arg-type]
            engine,
        )

    return make


def get(app: FastAPI, path: str, *, peer: tuple[str, int], **headers: str) -> httpx.Response:
    with TestClient(app, client=peer, raise_server_exceptions=False) as client:
        return client.get(path, headers=headers)


def assert_hidden(app: FastAPI, response: httpx.Response, peer: tuple[str, int]) -> None:
    """The answer is word for word an unknown path's (apart from the request id)."""
    unknown = get(app, "/no-such-path", peer=peer)
    assert response.status_code == unknown.status_code == 404
    assert response.headers["content-type"] == unknown.headers["content-type"]
    assert {**response.json(), "request_id": None} == {**unknown.json(), "request_id": None}


@pytest.mark.parametrize("peer", [("127.0.0.1", 41000), ("::1", 41000), ("127.0.0.2", 1)])
def test_loopback_clients_may_scrape(make_app: Callable[..., FastAPI], peer) -> None:  # type: ignore[no-untyped-def]
    response = get(make_app(), "/metrics", peer=peer)
    assert response.status_code == 200
    assert "bgcheck_http_requests_total" in response.text


@pytest.mark.parametrize("peer", [REMOTE, ("10.1.2.3", 1), ("testclient", 50000)])
def test_anyone_else_sees_no_metrics_endpoint(make_app: Callable[..., FastAPI], peer) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    assert_hidden(app, get(app, "/metrics", peer=peer), peer)


def test_the_metrics_token_opens_it_from_anywhere(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(metrics_token=TOKEN)
    for scheme in ("Bearer", "bearer"):
        response = get(app, "/metrics", peer=REMOTE, Authorization=f"{scheme} {TOKEN}")
        assert response.status_code == 200
    assert "bgcheck_http_requests_total" in response.text


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer "],
)
def test_a_missing_or_wrong_token_is_the_same_404(
    make_app: Callable[..., FastAPI], authorization: str | None
) -> None:
    app = make_app(metrics_token=TOKEN)
    headers = {"Authorization": authorization} if authorization is not None else {}
    assert_hidden(app, get(app, "/metrics", peer=REMOTE, **headers), REMOTE)


def test_without_a_metrics_token_no_bearer_opens_it(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    response = get(app, "/metrics", peer=REMOTE, Authorization="Bearer ")
    assert_hidden(app, response, REMOTE)


def test_behind_a_trusted_proxy_on_this_host_visitors_are_not_loopback(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(forwarded_allow_ips="127.0.0.1", metrics_token=TOKEN)
    proxy = ("127.0.0.1", 41000)
    visitor = {"X-Forwarded-For": "198.51.100.7"}
    assert_hidden(app, get(app, "/metrics", peer=proxy, **visitor), proxy)
    # A visitor claiming to be loopback: the proxy appends the real address, which counts.
    spoofed = {"X-Forwarded-For": "127.0.0.1, 198.51.100.7"}
    assert_hidden(app, get(app, "/metrics", peer=proxy, **spoofed), proxy)
    with_token = get(app, "/metrics", peer=proxy, Authorization=f"Bearer {TOKEN}", **visitor)
    assert with_token.status_code == 200
    # Prometheus on the host itself, not through the proxy, still scrapes.
    assert get(app, "/metrics", peer=proxy).status_code == 200


@pytest.mark.parametrize("value", ["changeme", "short", "secret"])
def test_a_weak_metrics_token_is_refused_at_start_up(value: str) -> None:
    with pytest.raises(SettingsError, match="BGCHECK_METRICS_TOKEN"):
        load_settings(metrics_token=value)
