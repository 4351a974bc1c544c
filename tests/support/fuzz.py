"""The fuzz tests' world (tests/fuzz/): a seeded app, and schemathesis schemas of its
OpenAPI signed in per role.

The database is seeded once per module: the demo's accounts (one per role) and cases in a
dozen states, a case whose vendor report is stored, a case waiting for consent and one in
its waiting period (with their candidate links), spare users and a dead outbox job. The
fuzzer then writes to it for real (nothing is rolled back), so later requests meet the
objects earlier ones made or changed. Requests go to the app in process (schemathesis's
ASGI transport), with no server.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, select

from bgcheck import demo
from bgcheck.cases import service as case_service
from bgcheck.identity.actors import Actor, load_actor
from bgcheck.models import Case, JobStatus, OutboxJob, User, utcnow
from bgcheck.platform.db import session_scope
from workflow import Event, Role

from support.auth import access_token
from support.cases import (
    ASSESSMENT,
    CASE,
    CONSENT,
    IDENTITY,
    invite,
    new_case,
    to_pending_review,
)
from support.factories import TEST_ACTOR, make_user

ROLES = ("anonymous", "hr", "reviewer", "manager", "auditor", "admin")
# The demo's accounts; its hr works for FAC, the department of every seeded case.
ACCOUNTS = {
    "hr": "hr@demo.bgcheck.test",
    "reviewer": "reviewer@demo.bgcheck.test",
    "manager": "manager@demo.bgcheck.test",
    "auditor": "auditor@demo.bgcheck.test",
    "admin": "admin@demo.bgcheck.test",
}
# The budget, per operation and role; raise it locally for a longer hunt.
EXAMPLES = int(os.environ.get("BGCHECK_FUZZ_EXAMPLES", "5"))
SEED = 2026

# What every answer must satisfy. Left off: `positive_data_acceptance`, because the case,
# event and consent bodies are declared as open objects (each event has its own body,
# which the workflow checks) and a well-formed id may name nothing, so a 404 or a 422 to
# schema-valid input is expected; and the checks for what this API does not have
# (DELETE, sign-up flows).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)

# The bodies the workflow accepts (docs/workflow.md): half of the generated object bodies
# of these operations are swapped for one, so calls also get past validation and cases
# move through their states (the stateful mode chains the events a case allows).
EVENT_BODIES: dict[str, dict[str, Any]] = {
    "verify_identity": IDENTITY,
    "assign": {"assignee": ACCOUNTS["reviewer"]},
    "propose_adverse": ASSESSMENT,
    "reject_adverse": {"reason": "Fuzzed."},
    "resolve_dispute": {"outcome": "upheld", "note": "Fuzzed."},
    "cancel": {"reason": "Fuzzed."},
}


def valid_body(case: Any) -> dict[str, Any] | None:
    path = case.operation.path
    if path == "/api/v1/cases":
        return CASE
    if path == "/api/v1/cases/{case_id}/events/{event}":
        return EVENT_BODIES.get(case.path_parameters.get("event"), {})
    if path == "/api/v1/portal/{token}/consent":
        return CONSENT
    if path == "/api/v1/portal/{token}/dispute":
        return {"statement": "The record is not mine."}
    return None


def _with_valid_body(case: Any, valid: bool) -> Any:
    if valid:
        case.body = dict(valid_body(case) or {})
    return case


@dataclass
class Seeded:
    """The app, the accounts per role, and real ids for path parameters."""

    app: FastAPI
    users: dict[str, uuid.UUID]
    # Path parameter → values that name real objects. The user ids are spare accounts, so
    # the admin's fuzzing never disables or re-roles an account the fuzzer signs in as.
    known: dict[str, list[str]]
    requests: Counter[str] = field(default_factory=Counter)  # per role
    snapshot: Path | None = None  # a copy of the seeded database

    def save(self, path: Path) -> None:
        """Keep a copy of the database as it is now, for ``reset``."""
        self._copy(self._database(), path)
        self.snapshot = path

    def reset(self) -> None:
        """Back to the saved database: each stateful scenario starts from the same data,
        so a scenario replayed (Hypothesis replays one to shrink a failure) meets the same
        answers. Without it, a replayed create gets a 409 where it first got a 201."""
        assert self.snapshot is not None
        self.app.state.engine.dispose()
        self._copy(self.snapshot, self._database())

    def _database(self) -> Path:
        return Path(self.app.state.engine.url.database)

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        # SQLite's backup API: consistent whatever the WAL holds.
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)

    def schema(self, role: str) -> Any:
        """The app's OpenAPI as schemathesis loads it, each generated request signed in
        as ``role``'s account (none for ``anonymous``) and counted."""
        schema = schemathesis.openapi.from_asgi("/openapi.json", self.app, config=config())
        if role != "anonymous":
            user_id = self.users[role]
            app = self.app

            # A fresh token for every request (no caching): a fuzzed logout revokes one.
            @schema.auth(refresh_interval=None)
            class SignedIn:
                def get(self, case: Any, context: Any) -> str:
                    return access_token(app, user_id)

                def set(self, case: Any, data: str, context: Any) -> None:
                    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

        @schema.hook
        def flatmap_case(context: Any, case: Any) -> Any:
            # An object body is a schema-valid one here: negative bodies are not objects.
            if case.method.upper() != "POST" or valid_body(case) is None:
                return st.just(case)
            if not isinstance(case.body, dict):
                return st.just(case)
            return st.booleans().map(lambda valid: _with_valid_body(case, valid))

        @schema.hook
        def after_call(context: Any, case: Any, response: Any) -> None:
            self.requests[role] += 1

        return schema

    def cases_for(self, operation: Any) -> Any:
        """Requests to ``operation``, a third each: schema-valid, schema-valid with path
        ids that name real objects, and schema-invalid."""
        positive = schemathesis.GenerationMode.POSITIVE
        strategies = [
            operation.as_strategy(positive),
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
        ]
        real = [
            operation.as_strategy(positive, path_parameters={name: value})
            for name, values in self.known.items()
            if f"{{{name}}}" in operation.path
            for value in values
        ]
        if real:
            strategies.append(st.one_of(real))
        return st.one_of(strategies)


def config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {"enabled": False} | {name: {"enabled": True} for name in CHECKS},
        }
    )


def _actor(session: Session, role: str) -> Actor:
    user_id = session.exec(select(User.id).where(User.email == ACCOUNTS[role])).one()
    actor = load_actor(session, user_id)
    assert actor is not None
    return actor


def seed(app: FastAPI, engine: Engine) -> Seeded:
    """Seed the app's empty (migrated) database; see the module's docstring."""
    ctx, now = app.state.cases, utcnow()
    with session_scope(engine) as session:
        demo.seed(session, TEST_ACTOR, app.state.auth.secret_box, now)
        demo.seed_cases(session, ctx, now)
    with session_scope(engine) as session:
        hr, reviewer, manager = (_actor(session, role) for role in ("hr", "reviewer", "manager"))
        reported = to_pending_review(session, ctx, hr, now)
        consent_link = invite(session, ctx, hr, new_case(session, ctx, hr, now), now)
        noticed = to_pending_review(session, ctx, hr, now)
        for who, event, body in (
            (reviewer, Event.CLAIM, {}),
            (reviewer, Event.PROPOSE_ADVERSE, ASSESSMENT),
            (manager, Event.APPROVE_ADVERSE, {}),
        ):
            outcome = case_service.fire(
                session,
                ctx,
                who,
                case_id=noticed,
                event=event,
                body=body,
                expected_version=None,
                now=now,
            )
        assert outcome.portal_token is not None
        spare = [make_user(session, role).id for role in (Role.HR, Role.REVIEWER, Role.AUDITOR)]
        job = OutboxJob(
            case_id=reported,
            kind="vendor_sync",
            idempotency_key=f"fuzz:{reported}",
            status=JobStatus.DEAD,
        )
        session.add(job)
        session.flush()
        return Seeded(
            app=app,
            users={role: _actor(session, role).user_id for role in ACCOUNTS},
            known={
                "case_id": [str(case_id) for case_id in session.exec(select(Case.id)).all()],
                "user_id": [str(user_id) for user_id in spare],
                "job_id": [str(job.id)],
                "token": [consent_link, outcome.portal_token],
                "vendor": [app.state.vendors.vendor_id],
            },
        )
