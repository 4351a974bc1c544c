"""bgcheck and the vendor simulator as two processes, talking real HTTP both ways.

``bgcheck serve`` (SQLite, embedded worker, ``BGCHECK_VENDOR=http``) places orders with
``bgcheck vendor-sim``, which answers with signed webhooks. A case goes from consent to
``pending_review`` with the report stored sealed; webhooks that are unsigned, wrongly
signed, stale, replayed, duplicated, out of order or lost all leave the case correct.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine, session_scope
from bgcheck.platform.settings import Settings
from bgcheck.vendors.signatures import StandardWebhooks
from workflow import Role

from support.cases import CASE, CONSENT, IDENTITY, RECORD_SSN
from support.factories import PASSWORD, make_user
from support.mfa import box_for, enroll
from support.server import clean_environ, free_port, running_server
from support.vendor_sim import RunningSim, new_webhook_secret, running_sim

WAIT_SECONDS = 60.0
USERS = {"hr": Role.HR, "reviewer": Role.REVIEWER}


@dataclass
class Stack:
    base: str
    sim: RunningSim
    database: Path
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, method: str, path: str, who: str = "hr", **kw: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.base}{path}", headers=self.headers(who), timeout=30, **kw
        )

    def case(self, case_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/api/v1/cases/{case_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def fire(self, case_id: str, event: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.call("POST", f"/api/v1/cases/{case_id}/events/{event}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def ordered_case(self, *, ssn: str = CONSENT["ssn"]) -> str:
        """HR's request, the candidate's consent through the portal, identity, order."""
        created = self.call("POST", "/api/v1/cases", json=CASE)
        assert created.status_code == 201, created.text
        case_id = created.json()["id"]
        portal = self.fire(case_id, "invite")["invitation_url"].rsplit("/", 1)[-1]
        consent = httpx.post(
            f"{self.base}/api/v1/portal/{portal}/consent", json=CONSENT | {"ssn": ssn}, timeout=30
        )
        assert consent.status_code == 204, consent.text
        self.fire(case_id, "verify_identity", IDENTITY)
        self.fire(case_id, "order")
        return case_id

    def wait_for(self, case_id: str, state: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            case = self.case(case_id)
            if case["state"] == state:
                return case
            time.sleep(0.1)
        raise AssertionError(f"case still {self.case(case_id)['state']}, not {state}")

    def history(self, case_id: str) -> list[str]:
        response = self.call("GET", f"/api/v1/cases/{case_id}/history")
        return [entry["event"] for entry in response.json()]

    def webhook(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            f"{self.base}/api/v1/vendors/http/webhook", content=body, headers=headers, timeout=30
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("vendor-e2e")
    database = data_dir / "bgcheck.db"
    engine = make_engine(Settings(data_dir=data_dir))
    migrate.upgrade(engine)
    emails, apps = {}, {}
    box = box_for(Settings(data_dir=data_dir))  # the keyring `serve` will load
    with session_scope(engine) as session:
        for name, role in USERS.items():
            user = make_user(session, role, password=PASSWORD)
            emails[name], apps[name] = user.email, enroll(session, box, user.id)
    engine.dispose()

    port = free_port()
    webhook_url = f"http://127.0.0.1:{port}/api/v1/vendors/http/webhook"
    with running_sim(webhook_url=webhook_url, delay=0.3, secret=new_webhook_secret()) as sim:
        env = clean_environ(
            BGCHECK_DATA_DIR=str(data_dir),
            BGCHECK_EMBEDDED_WORKER="true",
            BGCHECK_VENDOR="http",
            BGCHECK_VENDOR_URL=sim.url,
            BGCHECK_VENDOR_API_KEY=sim.api_key,
            BGCHECK_VENDOR_WEBHOOK_SECRET=sim.secret,
            BGCHECK_VENDOR_TIMEOUT_SECONDS="2",
            BGCHECK_VENDOR_RETRY_SECONDS="0.2",
            # Lost webhooks are found by polling after 3 s without news.
            BGCHECK_VENDOR_POLL_AFTER_MINUTES="0.05",
        )
        with running_server(env, port, data_dir / "serve.log") as base:
            tokens = {}
            for name, email in emails.items():
                form = {"username": email, "password": PASSWORD, "otp": apps[name].code()}
                answer = httpx.post(f"{base}/api/v1/auth/token", data=form)
                tokens[name] = answer.json()["access_token"]
            yield Stack(base, sim, database, tokens)


def test_a_consented_case_reaches_review_with_the_report_sealed(stack: Stack) -> None:
    stack.sim.faults()
    case_id = stack.ordered_case(ssn=RECORD_SSN)
    case = stack.wait_for(case_id, "pending_review")
    assert case["vendor_status"] == "complete"
    assert stack.sim.stats()["orders_by_external_id"][case_id] == 1

    report = stack.call("GET", f"/api/v1/cases/{case_id}/report", who="reviewer")
    assert report.status_code == 200, report.text
    findings = [finding for check in report.json()["checks"] for finding in check["findings"]]
    assert report.json()["result"] == "consider"
    assert findings
    # HR never reads the report.
    assert stack.call("GET", f"/api/v1/cases/{case_id}/report").status_code == 403

    with sqlite3.connect(stack.database) as db:
        sealed = db.execute(
            "SELECT sealed FROM case_documents WHERE case_id = ? AND kind = 'report'",
            (uuid.UUID(case_id).hex,),
        ).fetchall()
    assert len(sealed) == 1
    assert findings[0]["offense"].encode() not in sealed[0][0]


def _signed(
    stack: Stack, body: dict[str, Any], *, msg_id: str, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, StandardWebhooks(stack.sim.secret).sign(raw, msg_id=msg_id, timestamp=at)


def test_unsigned_wrongly_signed_and_stale_webhooks_are_refused(stack: Stack) -> None:
    body = {"type": "order.completed", "data": {"id": "no-such-order"}}
    raw, good = _signed(stack, body, msg_id=f"msg_{uuid.uuid4().hex}")

    unsigned = stack.webhook(raw, {"content-type": "application/json"})
    assert unsigned.status_code == 401
    assert unsigned.headers["content-type"] == "application/problem+json"

    forged = StandardWebhooks(new_webhook_secret()).sign(raw, msg_id=good["webhook-id"])
    assert stack.webhook(raw, forged).status_code == 401

    tampered = raw.replace(b"no-such-order", b"another-order")
    assert stack.webhook(tampered, good).status_code == 401

    _, stale = _signed(stack, body, msg_id=good["webhook-id"], at=int(time.time()) - 600)
    assert stack.webhook(raw, stale).status_code == 401

    # The genuine one: accepted, though no case has that order; then a replay is a no-op.
    assert stack.webhook(raw, good).json() == {"outcome": "unknown_order"}
    assert stack.webhook(raw, good).json() == {"outcome": "duplicate"}


def test_duplicated_and_out_of_order_webhooks_leave_the_case_correct(stack: Stack) -> None:
    stack.sim.faults(duplicate_webhooks=True, reorder_webhooks=True)
    case_id = stack.ordered_case()
    stack.wait_for(case_id, "pending_review")
    time.sleep(1)  # let the late, repeated deliveries arrive and be handled
    assert stack.case(case_id)["state"] == "pending_review"
    assert stack.history(case_id).count("vendor_complete") == 1
    report = stack.call("GET", f"/api/v1/cases/{case_id}/report", who="reviewer").json()
    assert (report["result"], report["versions"]) == ("clear", 1)


def test_a_lost_webhook_is_found_by_polling(stack: Stack) -> None:
    stack.sim.faults(drop_webhooks=True)
    case_id = stack.ordered_case()
    stack.wait_for(case_id, "pending_review")
    assert stack.sim.stats()["webhooks_dropped"] >= 1


def test_vendor_outages_are_retried_into_exactly_one_order(stack: Stack) -> None:
    stack.sim.faults(fail_next=4)
    case_id = stack.ordered_case()
    stack.wait_for(case_id, "pending_review")
    assert stack.sim.stats()["orders_by_external_id"][case_id] == 1
