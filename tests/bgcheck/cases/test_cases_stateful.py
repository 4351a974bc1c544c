"""Random events by random people against the real service and database.

After every step the invariants that make the program lawful must hold, on SQLite and on
PostgreSQL: nothing is ordered without consent and identity verification; nobody is
not-cleared without an approval by someone other than the proposer and a passed
deadline; final states never change; each change has exactly one audit event; and for
staff, ``allowed_events`` says yes exactly when the service accepts.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlmodel import Session, col, select

from bgcheck.cases import service as case_service
from bgcheck.identity.actors import Actor
from bgcheck.models import AuditEvent, Case, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.errors import BgcheckError
from bgcheck.platform.settings import Settings
from workflow import FINAL_STATES, Event, Role, State

from support.cases import CASE, case_context
from support.factories import make_actor
from support.lifecycle import BODIES, OUTSIDE_MOVES, fire_as, portal_purpose

STAFF = ("hr", "reviewer", "reviewer2", "manager", "manager2", "auditor")
OTHERS = ("candidate", "vendor", "system")
EVENTS = [event for event in Event if event is not Event.CREATE]


@pytest.fixture(scope="module")
def world(databases, tmp_path_factory):  # type: ignore[no-untyped-def]
    engine = databases.new_engine()
    ctx = case_context(
        Settings(
            data_dir=tmp_path_factory.mktemp("stateful"),
            adverse_wait_business_days=0,
            test_mode=True,
        )
    )
    with session_scope(engine) as session:
        roles = {
            "hr": Role.HR,
            "reviewer": Role.REVIEWER,
            "reviewer2": Role.REVIEWER,
            "manager": Role.MANAGER,
            "manager2": Role.MANAGER,
            "auditor": Role.AUDITOR,
        }
        actors = {name: make_actor(session, role) for name, role in roles.items()}
    yield engine, ctx, actors
    engine.dispose()


def test_random_events_keep_the_invariants(world) -> None:  # type: ignore[no-untyped-def]
    engine, ctx, actors = world
    reached: set[State] = set()

    class Lifecycle(RuleBasedStateMachine):
        case_id: uuid.UUID
        tokens: dict[str, str]

        @initialize()
        def create(self) -> None:
            with session_scope(engine) as session:
                self.case_id = case_service.create_case(
                    session, ctx, actors["hr"], body=CASE, now=utcnow()
                ).id
            self.tokens = {}
            self.changes = 1  # create
            self.final: State | None = None
            self.assignee = actors["reviewer"].email

        def case(self, session: Session) -> Case:
            case = session.get(Case, self.case_id)
            assert case is not None
            return case

        @rule(event=st.sampled_from(EVENTS), who=st.sampled_from(STAFF + OTHERS))
        def fire(self, event: Event, who: str) -> None:
            body = dict(BODIES[event])
            if event is Event.ASSIGN:
                body = {"assignee": self.assignee}
            with session_scope(engine) as session:
                before = self.case(session).state
                allowed = None
                if who in STAFF:
                    actor: Actor = actors[who]
                    allowed = event in case_service.allowed(
                        session, ctx, actor, self.case(session), utcnow()
                    )
            try:
                with session_scope(engine) as session:
                    outcome = fire_as(session, ctx, who, event, body, now=utcnow(), **self.moves())
            except BgcheckError:
                accepted = False
            else:
                accepted = True
                self.changes += 1
                if outcome.portal_token:
                    self.tokens[portal_purpose(event)] = outcome.portal_token
            if allowed is not None:
                assert allowed == accepted, (event, who, before)
            if before in FINAL_STATES:
                assert not accepted

        @rule(data=st.data())
        def progress(self, data: st.DataObject) -> None:
            """Pick among what someone may do now, so runs go deep, not only sideways."""
            with session_scope(engine, read_only=True) as session:
                case = self.case(session)
                options = [
                    (event, who)
                    for who in STAFF
                    for event in case_service.allowed(session, ctx, actors[who], case, utcnow())
                    if event not in (Event.CANCEL, Event.EXPIRE)  # `fire` tries those anyway
                ]
                options += OUTSIDE_MOVES.get(case.state, [])
            if options:
                self.fire(*data.draw(st.sampled_from(sorted(options))))

        def moves(self) -> dict[str, Any]:
            return {"case_id": self.case_id, "actors": actors, "tokens": self.tokens}

        @invariant()
        def lawful(self) -> None:
            if not hasattr(self, "case_id"):
                return
            with session_scope(engine, read_only=True) as session:
                case = self.case(session)
                events = session.exec(
                    select(AuditEvent)
                    .where(
                        AuditEvent.target_id == str(self.case_id),
                        col(AuditEvent.action).startswith("case."),
                    )
                    .order_by(col(AuditEvent.seq))
                ).all()
                actions = [event.action.removeprefix("case.") for event in events]
                assert len(actions) == self.changes == case.version
                if case.state in (State.SUBMITTED, State.IN_PROGRESS, State.PENDING_REVIEW):
                    assert "consent" in actions
                    assert "verify_identity" in actions
                    assert actions.index("verify_identity") < len(actions) - actions[::-1].index(
                        "order"
                    )
                if case.state is State.NOT_CLEARED:
                    proposal = max(i for i, a in enumerate(actions) if a == "propose_adverse")
                    approval = max(i for i, a in enumerate(actions) if a == "approve_adverse")
                    assert proposal < approval
                    assert events[proposal].actor_id != events[approval].actor_id
                    assert case.adverse_deadline is not None
                    assert case.adverse_deadline <= events[-1].occurred_at
                if self.final is not None:
                    assert case.state is self.final
                if case.state in FINAL_STATES:
                    self.final = case.state
                reached.add(case.state)

    Lifecycle.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    Lifecycle.TestCase().runTest()
    # The walk must reach deep states, or the invariants above prove little.
    assert {State.CLEARED, State.NOT_CLEARED} & reached, reached
