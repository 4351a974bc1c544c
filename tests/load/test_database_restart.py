"""PostgreSQL stopped and started again under load; the API is never restarted.

The cluster is the test's own (``support.pgcluster``), never the machine's shared server.
While it is down every answer that needs the database is ``503`` problem+json with a
``Retry-After``, quickly (no 500, no hang), ``/readyz`` included; ``/healthz`` still says
the process is alive. Once it is back the same API process answers again by itself.

The clients behave as a client should: each create carries an ``Idempotency-Key`` and is
retried with that key until it succeeds (sooner than ``Retry-After`` says, to keep the
test short). So every create they attempted exists exactly once afterwards, even one
whose commit reached the database just as the connection died.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.cases import CASE
from support.deployments import (
    bearer,
    bgcheck,
    mint_token,
    problem_of,
    serve_env,
    settings_of,
    unhandled_errors,
)
from support.factories import make_user
from support.pgcluster import Cluster, throwaway_cluster
from support.server import free_port, running_server

pytestmark = pytest.mark.load

CLIENTS = 5
ANSWER_WITHIN = 5.0  # seconds: an outage is answered at once, not after a hang
RECOVER_WITHIN = 20.0


@dataclass
class Deployment:
    base: str
    cluster: Cluster
    tokens: dict[str, str]
    log: Path


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with throwaway_cluster() as cluster:
        env = serve_env(cluster.url, tmp_path)
        bgcheck(env, "db", "upgrade")
        engine = make_engine(Settings(), url=cluster.url)
        with session_scope(engine) as session:
            users = {"hr": make_user(session, Role.HR), "auditor": make_user(session, Role.AUDITOR)}
        engine.dispose()
        settings = settings_of(env)
        tokens = {name: mint_token(settings, user.id) for name, user in users.items()}
        log = tmp_path / "serve.log"
        with running_server(env, free_port(), log) as base:
            yield Deployment(base, cluster, tokens, log)


@dataclass
class Load:
    """A few clients creating and reading cases until told to stop."""

    base: str
    token: str
    stop: threading.Event = field(default_factory=threading.Event)
    statuses: Counter[int] = field(default_factory=Counter)
    created_after_outage: int = 0
    outage_seen: threading.Event = field(default_factory=threading.Event)
    keys: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> case id
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, http: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = http.request(method, path, **kw)
        except httpx.HTTPError as exc:  # a hang (timeout) or a dropped connection
            with self.lock:
                self.unexpected.append(f"{method} {path}: {type(exc).__name__}")
            raise
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 503:
                self.outage_seen.set()
                try:
                    problem_of(response, 503)
                except AssertionError as exc:
                    self.unexpected.append(f"{method} {path}: bad 503: {exc}")
            elif response.status_code not in (200, 201):
                self.unexpected.append(f"{method} {path}: {response.status_code} {response.text}")
        return response

    def create(self, http: httpx.Client) -> str:
        """One create, retried with its key until it is through."""
        key = uuid.uuid4().hex
        deadline = time.monotonic() + RECOVER_WITHIN + 30
        while time.monotonic() < deadline:
            response = self.answer(
                http, "POST", "/api/v1/cases", json=CASE, headers={"Idempotency-Key": key}
            )
            if response.status_code == 201:
                case_id = response.json()["id"]
                with self.lock:
                    self.keys[key] = case_id
                    self.created_after_outage += self.outage_seen.is_set()
                return case_id
            time.sleep(0.2)
        raise AssertionError(f"a create never got through (key {key})")

    def client(self) -> None:
        with httpx.Client(
            base_url=self.base, headers=bearer(self.token), timeout=ANSWER_WITHIN
        ) as http:
            try:
                while not self.stop.is_set():
                    case_id = self.create(http)
                    self.answer(http, "GET", f"/api/v1/cases/{case_id}")
                    self.answer(http, "GET", "/api/v1/cases", params={"limit": 10})
            except (httpx.HTTPError, AssertionError) as exc:
                with self.lock:
                    self.unexpected.append(f"client stopped: {exc!r}")


def _timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_the_api_answers_503_while_postgresql_is_down_and_recovers_by_itself(
    deployment: Deployment,
) -> None:
    base, hr = deployment.base, bearer(deployment.tokens["hr"])
    created = httpx.post(f"{base}/api/v1/cases", json=CASE, headers=hr)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]

    load = Load(base, deployment.tokens["hr"])
    clients = [threading.Thread(target=load.client) for _ in range(CLIENTS)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(2)
        deployment.cluster.stop("fast")  # terminates every session, as a restart does

        # While it is down: quick 503 problems, for readiness, a read and a write.
        with httpx.Client(base_url=base, timeout=ANSWER_WITHIN) as http:
            for call in (
                lambda: http.get("/readyz"),
                lambda: http.get(f"/api/v1/cases/{case_id}", headers=hr),
                lambda: http.get("/api/v1/cases", headers=hr),
                lambda: http.post("/api/v1/cases", json=CASE, headers=hr),
            ):
                response, took = _timed(call)
                body = problem_of(response, 503)
                assert "database" in body["detail"]
                assert took < ANSWER_WITHIN
            assert http.get("/healthz").status_code == 200  # alive, though not ready
        time.sleep(2)  # the load keeps knocking while it is down

        deployment.cluster.start()
        deadline, ready = time.monotonic() + RECOVER_WITHIN, False
        while not ready and time.monotonic() < deadline:
            ready = httpx.get(f"{base}/readyz", timeout=ANSWER_WITHIN).status_code == 200
            time.sleep(0.1)
        assert ready, "the API did not recover by itself"
        read = httpx.get(f"{base}/api/v1/cases/{case_id}", headers=hr, timeout=ANSWER_WITHIN)
        assert read.status_code == 200, read.text
        time.sleep(2)  # and keeps working under the same load
    finally:
        load.stop.set()
        for thread in clients:
            thread.join(60)

    print(f"\nstatuses {dict(load.statuses)}, {len(load.keys)} creates")
    assert load.unexpected == [], "\n".join(load.unexpected[:20])
    assert load.statuses[503] > 0
    assert load.created_after_outage > 0
    assert unhandled_errors(deployment.log) == []

    # Every attempted create exists exactly once: one case and one stored answer per key.
    with psycopg.connect(deployment.cluster.dsn.replace("dbname=postgres", "dbname=bgcheck")) as db:
        cases = {str(row[0]) for row in db.execute("SELECT id FROM cases")}
        creates = db.execute("SELECT count(*) FROM audit_events WHERE action = 'case.create'")
        answers = db.execute("SELECT count(*) FROM idempotent_responses").fetchone()
        create_events = creates.fetchone()
    assert cases == {case_id, *load.keys.values()}
    assert len(set(load.keys.values())) == len(load.keys)
    assert answers == (len(load.keys),)
    assert create_events == (len(cases),)
    verified = httpx.get(
        f"{base}/api/v1/audit/verify", headers=bearer(deployment.tokens["auditor"]), timeout=60
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True, verified.json()
