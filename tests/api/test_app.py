"""The HTTP skeleton: health, metrics, request ids, and problem+json for every error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError

from api.app import create_app
from bgcheck.platform.db import make_engine
from bgcheck.platform.settings import Settings

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_is_503_problem_when_the_database_is_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, embedded_worker=False)
    # A port nothing listens on: the connection is refused at once.
    dead = make_engine(settings, url="postgresql+psycopg://postgres@127.0.0.1:9/none")
    with TestClient(create_app(settings, dead), raise_server_exceptions=False) as client:
        body = assert_problem(client.get("/readyz"), 503)
    assert "database" in body["detail"]


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "bgcheck"


def test_metrics_count_requests_by_route_template(app) -> None:  # type: ignore[no-untyped-def]
    # A loopback client: /metrics answers no one else without its token (test_metrics_access).
    client = TestClient(app, client=("127.0.0.1", 50000))
    client.get("/healthz")
    text = client.get("/metrics").text
    assert 'bgcheck_http_requests_total{method="GET",route="/healthz",status="200"}' in text


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "trace-1234abcd"}).headers[
        "x-request-id"
    ] == ("trace-1234abcd")


def test_a_malformed_request_id_is_replaced(client: TestClient) -> None:
    hostile = "x" * 200
    assert client.get("/healthz", headers={"X-Request-ID": hostile}).headers["x-request-id"] != (
        hostile
    )


def test_unknown_path_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    assert_problem(client.delete("/healthz"), 405)


def test_malformed_json_is_a_400_problem(client: TestClient) -> None:
    response = client.post(
        "/api/v1/probe", content=b'{"name": "x", ', headers={"content-type": "application/json"}
    )
    assert assert_problem(response, 400)["type"].endswith("/malformed-json")


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "ok", "count": "many"},
        {"name": ["not", "a", "string"], "count": 1},
        {"count": 1},
        {"name": "ok", "count": 1, "unexpected": True},
        [1, 2, 3],
        "just a string",
    ],
)
def test_invalid_bodies_are_422_problems_naming_the_fields(
    client: TestClient, payload: object
) -> None:
    body = assert_problem(client.post("/api/v1/probe", json=payload), 422)
    assert body["errors"]
    assert all({"field", "message"} == set(error) for error in body["errors"])


def test_validation_errors_never_echo_the_submitted_values(client: TestClient) -> None:
    response = client.post("/api/v1/probe", json={"name": "ok", "count": "123-45-6789"})
    assert_problem(response, 422)
    assert "6789" not in response.text


def test_bodies_over_one_mebibyte_are_413_by_content_length(client: TestClient) -> None:
    oversized = b'{"name": "' + b"a" * (1024 * 1024) + b'", "count": 1}'
    response = client.post(
        "/api/v1/probe", content=oversized, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


def test_bodies_over_one_mebibyte_are_413_when_streamed(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"a" * 65536
        yield b'", "count": 1}'

    response = client.post(
        "/api/v1/probe", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


def test_a_body_under_the_limit_is_accepted(client: TestClient) -> None:
    response = client.post("/api/v1/probe", json={"name": "a" * 1000, "count": 1})
    assert response.status_code == 200
    assert response.json() == {"name_length": "1000"}


def test_an_unexpected_error_is_a_500_problem_without_internals(client: TestClient) -> None:
    response = client.post("/api/v1/probe/explode", json={"name": "secret-name", "count": 1})
    body = assert_problem(response, 500)
    assert "secret-name" not in response.text
    assert "boom" not in response.text
    assert "request id" in body["detail"]


@pytest.mark.parametrize(
    ("error", "status", "slug", "retry_after"),
    [
        (OperationalError("SELECT", {}, psycopg.OperationalError()), 503, "unavailable", "5"),
        (
            InternalError("INSERT", {}, psycopg.errors.ReadOnlySqlTransaction()),
            503,
            "database-read-only",
            "60",
        ),
        (OperationalError("INSERT", {}, psycopg.errors.DiskFull()), 503, "storage-full", "60"),
        # Not an outage but a bug: the request middleware's 500.
        (InternalError("SELECT", {}, psycopg.errors.DataCorrupted()), 500, "internal", None),
    ],
)
def test_a_database_outage_is_a_503_problem_saying_which(
    tmp_path: Path, error: DBAPIError, status: int, slug: str, retry_after: str | None
) -> None:
    settings = Settings(data_dir=tmp_path, embedded_worker=False)
    dead = make_engine(settings, url="postgresql+psycopg://postgres@127.0.0.1:9/none")
    app = create_app(settings, dead)
    router = APIRouter()

    @router.post("/write")
    def write() -> None:
        raise error

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/write")
    body = assert_problem(response, status)
    assert body["type"].endswith(f"/{slug}")
    assert response.headers.get("retry-after") == retry_after
    assert "INSERT" not in response.text


def test_an_exhausted_connection_pool_is_a_503_not_a_500(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    app = create_app(Settings(data_dir=tmp_path, embedded_worker=False), engine)
    with engine.connect(), TestClient(app, raise_server_exceptions=False) as client:
        # The pool's only connection is held above: the login waits, then gives up.
        response = client.post(
            "/api/v1/auth/token", data={"username": "someone@example.edu", "password": "x" * 12}
        )
    engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "2"
    assert response.json()["detail"] == "The service is busy; try again shortly."
