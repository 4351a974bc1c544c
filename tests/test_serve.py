"""`bgcheck serve` as `make run` starts it: a real process answering real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server import clean_environ, free_port, running_server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("served")
    log_path = data_dir / "serve.log"
    env = clean_environ(
        BGCHECK_DATA_DIR=str(data_dir),
        BGCHECK_EMBEDDED_WORKER="true",
        # uvicorn's own trust list (default 127.0.0.1,::1), at its widest: serve must
        # ignore it, so that only BGCHECK_FORWARDED_ALLOW_IPS decides (docs/operations.md).
        FORWARDED_ALLOW_IPS="*",
    )
    with running_server(env, free_port(), log_path) as base:
        yield base, log_path


def test_serve_migrates_the_embedded_database_and_is_ready(served: tuple[str, Path]) -> None:
    base, _ = served
    assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}


def test_serve_offers_the_interactive_docs(served: tuple[str, Path]) -> None:
    base, _ = served
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "bgcheck"


def test_serve_answers_problem_json_over_real_http(served: tuple[str, Path]) -> None:
    base, _ = served
    response = httpx.get(f"{base}/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_serve_logs_one_json_object_per_line(served: tuple[str, Path]) -> None:
    base, log_path = served
    httpx.get(f"{base}/healthz", headers={"X-Request-ID": "serve-test-0001"})
    time.sleep(0.2)
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    requests = [r for r in records if r.get("event") == "request"]
    assert any(r["request_id"] == "serve-test-0001" for r in requests)
    assert any(r.get("event") == "worker started" for r in records)


def test_serve_does_not_let_uvicorn_believe_forwarded_headers(served: tuple[str, Path]) -> None:
    # Were uvicorn's proxy headers on, this loopback caller would become 203.0.113.1 (and
    # could pick the address its failed logins count under): /metrics would be a 404.
    base, _ = served
    response = httpx.get(f"{base}/metrics", headers={"X-Forwarded-For": "203.0.113.1"})
    assert response.status_code == 200
