"""Fifty clients for thirty seconds against a real ``bgcheck serve`` on PostgreSQL.

HR clients of two departments create cases (half with an ``Idempotency-Key``, some
retried, some sent twice at once), read them, list and search them, invite and cancel;
a reviewer reads across departments. Some requests are wrong on purpose and counted:
a stale ``If-Match`` (412), inviting to a cancelled case (409), two cancels racing with
one ETag (one wins), another department's case (404).

Afterwards nothing was lost or written twice: the cases in the database are exactly the
ones the clients saw created, each in the state the clients' own successful events put
it in, each with one ``case.create`` audit event and one event per successful change;
the idempotent answers stored are exactly the keyed writes that succeeded; the audit
chain verifies; and no request was answered by an error nobody provoked.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings
from workflow import Role

from support.cases import CASE
from support.databases import Databases
from support.deployments import (
    PROBLEM_JSON,
    bearer,
    bgcheck,
    serve_env,
    settings_of,
    unhandled_errors,
)
from support.factories import PASSWORD, make_user
from support.mfa import box_for, enroll
from support.server import free_port, running_server

pytestmark = [pytest.mark.load, pytest.mark.postgres]

CLIENTS = 50
SECONDS = 30.0
DEPARTMENTS = ("FAC", "ATH")
REQUEST_TIMEOUT = 30.0


@dataclass
class Mine:
    """What a client knows of a case it created; only it changes that case."""

    email: str
    version: int
    state: str = "draft"


@dataclass
class Tally:
    created: dict[str, str] = field(default_factory=dict)  # case id -> department
    first_version: dict[str, int] = field(default_factory=dict)
    events: dict[str, list[str]] = field(default_factory=dict)  # case id -> events that won
    keyed_writes: int = 0  # keyed writes that changed something (one stored answer each)
    replays: int = 0
    provoked: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def check(self, what: str, response: httpx.Response, expected: set[int]) -> None:
        self.statuses[response.status_code] += 1
        if response.status_code not in expected:
            self.unexpected.append(f"{what}: {response.status_code} {response.text[:300]}")
        elif response.status_code >= 400 and response.headers["content-type"] != PROBLEM_JSON:
            self.unexpected.append(f"{what}: {response.status_code} is not problem+json")


@dataclass
class Client:
    number: int
    http: httpx.AsyncClient
    tokens: dict[str, str]
    tally: Tally
    rng: random.Random = field(init=False)
    mine: dict[str, Mine] = field(default_factory=dict)
    made: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(20260901 + self.number)
        self.department = DEPARTMENTS[self.number % len(DEPARTMENTS)]
        self.hr = bearer(self.tokens[self.department])

    def own(self, *states: str) -> tuple[str, Mine] | None:
        found = [(cid, case) for cid, case in self.mine.items() if case.state in states]
        return self.rng.choice(found) if found else None

    async def create(self) -> None:
        self.made += 1
        email = f"cand-{self.number}-{self.made}@example.org"
        body = CASE | {
            "department": self.department,
            "candidate": CASE["candidate"] | {"email": email},
        }
        keyed, roll = self.rng.random() < 0.5, self.rng.random()
        headers = self.hr | ({"Idempotency-Key": uuid.uuid4().hex} if keyed else {})

        def send() -> Awaitable[httpx.Response]:
            return self.http.post("/api/v1/cases", json=body, headers=headers)

        if keyed and roll < 0.15:
            # The same keyed request twice at once: one change; the other is replayed or,
            # when both missed the stored answer, refused by its primary key (409).
            answers = await asyncio.gather(send(), send())
            for answer in answers:
                self.tally.check("create twice at once", answer, {201, 409})
            fresh = [a for a in answers if a.status_code == 201 and not replayed(a)]
            others = [a for a in answers if a not in fresh]
            if len(fresh) != 1:
                self.tally.unexpected.append(f"create twice at once: {len(fresh)} changes")
                return
            for other in others:
                if other.status_code == 409:
                    self.tally.provoked["same key at once: 409"] += 1
                elif other.json()["id"] == fresh[0].json()["id"]:
                    self.tally.replays += 1
                else:
                    self.tally.unexpected.append("create twice at once: two different cases")
            answer = fresh[0]
        else:
            answer = await send()
            self.tally.check("create", answer, {201})
            if answer.status_code != 201:
                return
            if keyed and roll < 0.5:  # the client did not see the answer: it retries
                again = await send()
                self.tally.check("create retried", again, {201})
                if replayed(again) and again.json() == answer.json():
                    self.tally.replays += 1
                else:
                    self.tally.unexpected.append("create retried: not the first answer")
        case = answer.json()
        self.tally.created[case["id"]] = self.department
        self.tally.first_version[case["id"]] = case["version"]
        self.tally.events[case["id"]] = []
        self.tally.keyed_writes += keyed
        self.mine[case["id"]] = Mine(email=email, version=case["version"])

    async def read(self) -> None:
        if not self.mine:
            return await self.create()
        case_id = self.rng.choice(list(self.mine))
        answer = await self.http.get(f"/api/v1/cases/{case_id}", headers=self.hr)
        self.tally.check("read", answer, {200})
        if answer.status_code == 200:
            case, known = answer.json(), self.mine[case_id]
            if (case["state"], case["version"]) != (known.state, known.version):
                self.tally.unexpected.append(f"read {case_id}: {case} is not {known}")
            if answer.headers["etag"] != f'"{known.version}"':
                self.tally.unexpected.append(f"read {case_id}: ETag {answer.headers['etag']}")

    async def list_page(self) -> None:
        params: dict[str, Any] = {"limit": 20}
        if self.rng.random() < 0.3:
            params["state"] = "draft"
        answer = await self.http.get("/api/v1/cases", params=params, headers=self.hr)
        self.tally.check("list", answer, {200})
        if answer.status_code != 200:
            return
        page = answer.json()
        if any(item["department"] != self.department for item in page["items"]):
            self.tally.unexpected.append("list: a case of another department")
        if page["next_cursor"] and self.rng.random() < 0.5:
            params["cursor"] = page["next_cursor"]
            more = await self.http.get("/api/v1/cases", params=params, headers=self.hr)
            self.tally.check("list next page", more, {200})

    async def search(self) -> None:
        if not self.mine:
            return await self.create()
        case_id, case = self.rng.choice(list(self.mine.items()))
        answer = await self.http.post(
            "/api/v1/cases/search", json={"email": case.email}, headers=self.hr
        )
        self.tally.check("search", answer, {200})
        if answer.status_code == 200 and [i["id"] for i in answer.json()["items"]] != [case_id]:
            self.tally.unexpected.append(f"search {case.email}: {answer.text[:300]}")

    async def review(self) -> None:
        if not self.tally.created:
            return
        case_id = self.rng.choice(list(self.tally.created))
        answer = await self.http.get(
            f"/api/v1/cases/{case_id}", headers=bearer(self.tokens["reviewer"])
        )
        self.tally.check("reviewer read", answer, {200})

    async def other_department(self) -> None:
        theirs = [cid for cid, dept in self.tally.created.items() if dept != self.department]
        if not theirs:
            return
        answer = await self.http.get(f"/api/v1/cases/{self.rng.choice(theirs)}", headers=self.hr)
        self.tally.check("another department's case", answer, {404})
        self.tally.provoked["another department: 404"] += answer.status_code == 404

    async def fire(
        self, case_id: str, event: str, body: dict[str, Any], *, version: int, key: str | None
    ) -> httpx.Response:
        headers = self.hr | {"If-Match": f'"{version}"'}
        if key:
            headers["Idempotency-Key"] = key
        return await self.http.post(
            f"/api/v1/cases/{case_id}/events/{event}", json=body, headers=headers
        )

    async def change(self, event: str, body: dict[str, Any], *states: str) -> None:
        picked = self.own(*states)
        if picked is None:
            return await self.create()
        case_id, case = picked
        key = uuid.uuid4().hex if self.rng.random() < 0.5 else None
        answer = await self.fire(case_id, event, body, version=case.version, key=key)
        self.tally.check(event, answer, {200})
        if answer.status_code != 200:
            return
        if key and self.rng.random() < 0.5:
            again = await self.fire(case_id, event, body, version=case.version, key=key)
            self.tally.check(f"{event} retried", again, {200})
            if replayed(again) and again.json()["version"] == answer.json()["version"]:
                self.tally.replays += 1
            else:
                self.tally.unexpected.append(f"{event} retried: not the first answer")
        self.won(case_id, event, answer)
        self.tally.keyed_writes += key is not None

    def won(self, case_id: str, event: str, answer: httpx.Response) -> None:
        case = answer.json()
        self.mine[case_id].state, self.mine[case_id].version = case["state"], case["version"]
        self.tally.events[case_id].append(event)

    async def invite(self) -> None:
        await self.change("invite", {}, "draft", "awaiting_consent")  # or a re-invite

    async def cancel(self) -> None:
        await self.change("cancel", {"reason": "Position withdrawn"}, "draft", "awaiting_consent")

    async def stale(self) -> None:
        picked = self.own("draft", "awaiting_consent", "cancelled")
        if picked is None:
            return await self.create()
        case_id, case = picked
        stale = case.version - 1 if case.version > 1 else case.version + 7
        answer = await self.fire(case_id, "cancel", {"reason": "Stale"}, version=stale, key=None)
        self.tally.check("stale If-Match", answer, {412})
        self.tally.provoked["stale If-Match: 412"] += answer.status_code == 412

    async def wrong_state(self) -> None:
        picked = self.own("cancelled")
        if picked is None:
            return await self.cancel()
        case_id, case = picked
        answer = await self.fire(case_id, "invite", {}, version=case.version, key=None)
        self.tally.check("event the state forbids", answer, {409})
        self.tally.provoked["wrong state: 409"] += answer.status_code == 409

    async def race(self) -> None:
        """Two cancels with one ETag at once: exactly one wins, the other is told why."""
        picked = self.own("draft", "awaiting_consent")
        if picked is None:
            return await self.create()
        case_id, case = picked
        body = {"reason": "Raced"}
        answers = await asyncio.gather(
            *(self.fire(case_id, "cancel", body, version=case.version, key=None) for _ in "ab")
        )
        for answer in answers:
            self.tally.check("two cancels racing", answer, {200, 409, 412})
        winners = [answer for answer in answers if answer.status_code == 200]
        if len(winners) != 1:
            self.tally.unexpected.append(f"two cancels racing: {len(winners)} won")
            return
        self.won(case_id, "cancel", winners[0])
        self.tally.provoked["race lost: 409/412"] += 1

    async def run(self, deadline: float) -> None:
        actions: dict[Callable[[], Awaitable[None]], int] = {
            self.create: 18,
            self.read: 18,
            self.list_page: 12,
            self.search: 6,
            self.review: 8,
            self.invite: 10,
            self.cancel: 6,
            self.stale: 4,
            self.wrong_state: 3,
            self.race: 3,
            self.other_department: 3,
        }
        choices, weights = list(actions), list(actions.values())
        while time.monotonic() < deadline:
            await self.rng.choices(choices, weights)[0]()
            await asyncio.sleep(self.rng.uniform(0, 0.01))


def replayed(answer: httpx.Response) -> bool:
    return answer.headers.get("idempotent-replayed") == "true"


@dataclass
class Deployment:
    base: str
    url: str
    tokens: dict[str, str]
    log: Path


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A migrated throwaway database on the local server, its users, and ``serve``."""
    databases = Databases("postgresql", tmp_path)
    try:
        url = databases.new_url()
        # Fifty clients as one hr user search far more often than a person would.
        env = serve_env(url, tmp_path, BGCHECK_SEARCH_MAX_PER_WINDOW="10000")
        bgcheck(env, "db", "upgrade")
        engine = make_engine(Settings(), url=url)
        emails, apps = {}, {}
        box = box_for(settings_of(env))
        with session_scope(engine) as session:
            users = [
                (
                    department,
                    make_user(session, Role.HR, departments=(department,), password=PASSWORD),
                )
                for department in DEPARTMENTS
            ]
            users += [
                (role.value, make_user(session, role, password=PASSWORD))
                for role in (Role.REVIEWER, Role.AUDITOR)
            ]
            for name, user in users:
                emails[name], apps[name] = user.email, enroll(session, box, user.id)
        engine.dispose()
        log = tmp_path / "serve.log"
        with running_server(env, free_port(), log) as base:
            tokens = {}
            for name, email in emails.items():
                form = {"username": email, "password": PASSWORD, "otp": apps[name].code()}
                answer = httpx.post(f"{base}/api/v1/auth/token", data=form)
                assert answer.status_code == 200, answer.text
                tokens[name] = answer.json()["access_token"]
            yield Deployment(base, url, tokens, log)
    finally:
        databases.drop_all()


async def _load(deployment: Deployment, tally: Tally) -> None:
    limits = httpx.Limits(max_connections=2 * CLIENTS, max_keepalive_connections=2 * CLIENTS)
    async with httpx.AsyncClient(
        base_url=deployment.base, timeout=REQUEST_TIMEOUT, limits=limits
    ) as http:
        clients = [Client(n, http, deployment.tokens, tally) for n in range(CLIENTS)]
        deadline = time.monotonic() + SECONDS
        await asyncio.gather(*(client.run(deadline) for client in clients))


def _stored(url: str) -> tuple[dict[str, tuple[str, int]], Counter[tuple[str, str]], int, int]:
    """What the database holds: cases, case audit events, stored answers, all events."""
    params = make_url(url)
    dsn = f"host={params.host} port={params.port} user={params.username} dbname={params.database}"
    with psycopg.connect(dsn) as conn:
        cases = {
            str(case_id): (state, version)
            for case_id, state, version in conn.execute("SELECT id, state, version FROM cases")
        }
        events = Counter(
            {
                (action, target): count
                for action, target, count in conn.execute(
                    "SELECT action, target_id, count(*) FROM audit_events"
                    " WHERE action LIKE 'case.%' GROUP BY action, target_id"
                )
            }
        )
        answers = conn.execute("SELECT count(*) FROM idempotent_responses").fetchone()
        total = conn.execute("SELECT count(*) FROM audit_events").fetchone()
    assert answers is not None
    assert total is not None
    return cases, events, answers[0], total[0]


def test_fifty_clients_for_thirty_seconds_lose_and_duplicate_nothing(
    deployment: Deployment,
) -> None:
    tally = Tally()
    started = time.monotonic()
    asyncio.run(_load(deployment, tally))
    elapsed = time.monotonic() - started
    requests = sum(tally.statuses.values())
    print(
        f"\n{requests} requests in {elapsed:.1f} s ({requests / elapsed:.0f}/s), "
        f"{len(tally.created)} cases, {tally.replays} replays, statuses {dict(tally.statuses)}, "
        f"provoked {dict(tally.provoked)}"
    )

    assert tally.unexpected == [], "\n".join(tally.unexpected[:20])
    assert not [status for status in tally.statuses if status >= 500]
    assert unhandled_errors(deployment.log) == []
    # Every kind of deliberate conflict did happen, so the checks above mean something.
    assert len(tally.created) >= 50
    assert tally.replays > 0
    for provoked in ("stale If-Match: 412", "wrong state: 409", "race lost: 409/412"):
        assert tally.provoked[provoked] > 0, provoked

    cases, events, answers, total = _stored(deployment.url)
    assert set(cases) == set(tally.created)  # none lost, none extra
    final = {"invite": "awaiting_consent", "cancel": "cancelled"}
    for case_id, won in tally.events.items():
        state = final[won[-1]] if won else "draft"
        assert cases[case_id] == (state, tally.first_version[case_id] + len(won)), case_id
    expected = Counter({("case.create", case_id): 1 for case_id in tally.created})
    for case_id, won in tally.events.items():
        expected.update(("case." + event, case_id) for event in won)
    assert events == expected  # one audit event per change, none for a refusal or a replay
    assert answers == tally.keyed_writes  # one stored answer per keyed change

    verified = httpx.get(
        f"{deployment.base}/api/v1/audit/verify",
        headers=bearer(deployment.tokens["auditor"]),
        timeout=60,
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True, verified.json()
    assert verified.json()["checked"] == total
