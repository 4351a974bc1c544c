"""The service stores what ``workflow.evolve`` predicts, and every effect has a handler.

Random valid events (what someone may do now) go through the real service and database;
after each one the stored case, as the workflow sees it, must equal ``evolve`` of the case
before with the decision the workflow makes for the same actor, body and time.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlmodel import Session

from bgcheck.cases import effects
from bgcheck.cases import service as case_service
from bgcheck.cases.context import CaseContext
from bgcheck.identity.actors import Actor
from bgcheck.models import Case, utcnow
from bgcheck.platform.errors import BgcheckError
from bgcheck.platform.settings import Settings
from workflow import ActorView, Decision, Effect, Event, Role, State, decide, evolve

from support.cases import CASE, case_context
from support.factories import make_actor
from support.lifecycle import BODIES, OUTSIDE_MOVES, fire_as, portal_purpose

STAFF = ("hr", "reviewer", "reviewer2", "manager", "manager2")


def _backwards(event: Event, state: State) -> bool:
    return event is Event.CANCEL or (event is Event.INVITE and state is not State.DRAFT)


@pytest.fixture
def ctx(tmp_path_factory: pytest.TempPathFactory) -> CaseContext:
    return case_context(
        Settings(
            data_dir=tmp_path_factory.mktemp("effects"),
            adverse_wait_business_days=0,
            test_mode=True,
        )
    )


@pytest.fixture
def actors(db: Session) -> dict[str, Actor]:
    roles = {
        "hr": Role.HR,
        "reviewer": Role.REVIEWER,
        "reviewer2": Role.REVIEWER,
        "manager": Role.MANAGER,
        "manager2": Role.MANAGER,
    }
    return {name: make_actor(db, role) for name, role in roles.items()}


def test_the_stored_case_is_what_evolve_predicts(
    db: Session, ctx: CaseContext, actors: dict[str, Actor]
) -> None:
    reached: set[State] = set()

    class Lifecycle(RuleBasedStateMachine):
        case_id: uuid.UUID

        @initialize()
        def create(self) -> None:
            with db.begin_nested():
                case = case_service.create_case(db, ctx, actors["hr"], body=CASE, now=utcnow())
            self.case_id = case.id
            self.tokens: dict[str, str] = {}

        def case(self) -> Case:
            case = db.get(Case, self.case_id)
            assert case is not None
            return case

        @rule(data=st.data())
        def step(self, data: st.DataObject) -> None:
            case, now = self.case(), utcnow()
            # Cancelling ends a run and a new invitation starts it over: only when asked
            # to, so most runs go deep.
            # Backwards moves (cancel, a new invitation) one step in ten: runs go deep
            # enough to reach a decision (asserted below) and still cover those moves.
            sideways = data.draw(st.integers(0, 9)) == 0
            options = [
                (event, who)
                for who in STAFF
                for event in case_service.allowed(db, ctx, actors[who], case, now)
                if sideways or not _backwards(event, case.state)
            ]
            options += OUTSIDE_MOVES.get(case.state, [])
            if not options:
                return
            event, who = data.draw(st.sampled_from(sorted(options)))
            body = dict(BODIES[event])
            if event is Event.ASSIGN:
                # An id, not an email: the workflow's ``assignee`` is what the row stores.
                pick = data.draw(st.sampled_from(("reviewer", "reviewer2", "manager")))
                body = {"assignee": str(actors[pick].user_id)}
            before = case_service.view(db, ctx, case, actor=None)
            acting = actors[who].view() if who in STAFF else self._outsider(who)
            seen = case_service.view(db, ctx, case, actor=actors.get(who))
            decision = decide(seen, event, acting, body, now, rules=ctx.rules)
            try:
                with db.begin_nested():
                    outcome = fire_as(db, ctx, who, event, body, now=now, **self.moves())
            except BgcheckError:
                return  # refused (a guard, a used link): nothing stored, nothing to predict
            assert isinstance(decision, Decision), decision
            if outcome.portal_token:
                self.tokens[portal_purpose(event)] = outcome.portal_token
            after = case_service.view(db, ctx, self.case(), actor=None)
            assert after == evolve(before, decision), (event, who)
            reached.add(after.state)

        @staticmethod
        def _outsider(who: str) -> ActorView:
            return ActorView(id=who, email=None, roles=frozenset({Role(who)}))

        def moves(self) -> dict[str, Any]:
            return {"case_id": self.case_id, "actors": actors, "tokens": self.tokens}

        @invariant()
        def versioned(self) -> None:
            if hasattr(self, "case_id"):
                assert self.case().version >= 1

    Lifecycle.TestCase.settings = settings(
        max_examples=60,
        # The same walks every run: the coverage check below cannot flake, and a change
        # that stops the walks reaching a decision fails every time.
        derandomize=True,
        stateful_step_count=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Lifecycle.TestCase().runTest()
    assert {State.CLEARED, State.NOT_CLEARED} & reached, reached


def test_every_effect_has_a_handler_or_only_changes_fields() -> None:
    effects.check_handlers()


def test_a_missing_handler_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers = dict(effects.HANDLERS)
    del handlers[Effect.ISSUE_FINAL_NOTICE]
    monkeypatch.setattr(effects, "HANDLERS", handlers)
    with pytest.raises(TypeError, match="issue_final_notice"):
        effects.check_handlers(effects.HANDLERS)


def test_an_effect_in_both_tables_fails_the_check() -> None:
    fields_only = dict(effects.FIELDS_ONLY) | {Effect.ISSUE_INVITATION: {}}
    with pytest.raises(TypeError, match="issue_invitation"):
        effects.check_handlers(effects.HANDLERS, fields_only)


def test_a_field_the_row_lacks_fails_the_check() -> None:
    fields_only = dict(effects.FIELDS_ONLY) | {Effect.CLOSE_CASE: {"closed_on": None}}
    with pytest.raises(TypeError, match="closed_on"):
        effects.check_handlers(effects.HANDLERS, fields_only)
