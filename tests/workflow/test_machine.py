"""decide, decide_create, allowed_events and evolve: scenarios, then a stateful property test."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from workflow import (
    FINAL_STATES,
    PAYLOADS,
    ActorView,
    CaseView,
    ConsentBody,
    CreateBody,
    Decision,
    Effect,
    Event,
    NoteBody,
    ProposeAdverseBody,
    Refusal,
    RefusalCode,
    Role,
    Rules,
    State,
    add_business_days,
    allowed_events,
    decide,
    decide_create,
    evolve,
)
from workflow.states import STAFF_ROLES
from workflow.table import row_for

RULES = Rules(disclosure_version="2025-01")
CANDIDATE_EMAIL = "Pat.Candidate@example.org"
# Wednesday 25 November 2026, 10:00 in Boston: the day before Thanksgiving.
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)

ACTORS: dict[str, ActorView] = {
    "hr": ActorView("hr-physics", "hr@university.edu", {Role.HR}, {"physics"}),
    "hr_other": ActorView("hr-chemistry", "hr2@university.edu", {Role.HR}, {"chemistry"}),
    "reviewer_a": ActorView("reviewer-a", "ra@university.edu", {Role.REVIEWER}),
    "reviewer_b": ActorView("reviewer-b", "rb@university.edu", {Role.REVIEWER}),
    "manager_a": ActorView("manager-a", "ma@university.edu", {Role.MANAGER}),
    "manager_b": ActorView("manager-b", "mb@university.edu", {Role.MANAGER}),
    "auditor": ActorView("auditor", "audit@university.edu", {Role.AUDITOR}),
    "admin": ActorView("admin", "admin@university.edu", {Role.ADMIN}),
    # A staff member who is also the candidate (same email, other case and spacing).
    "staff_candidate": ActorView(
        "staff-self", " PAT.CANDIDATE@example.org", STAFF_ROLES, {"physics"}
    ),
    "candidate": ActorView("candidate", None, {Role.CANDIDATE}),
    "vendor": ActorView("vendor:sandbox", None, {Role.VENDOR}),
    "system": ActorView("system", None, {Role.SYSTEM}),
}
E_CANCEL, E_EXPIRE = Event.CANCEL, Event.EXPIRE
NEVER_ALLOWED = {"hr_other", "auditor", "admin", "staff_candidate"}
ASSIGNEES = ("reviewer-a", "reviewer-b", "manager-a")
SECRETS = ("123456789", "123-45-6789", "Candidate", "1990-04-01", CANDIDATE_EMAIL.casefold())


def body(event: Event, assignee: str = "reviewer-a") -> dict[str, Any]:
    """A valid body for ``event`` that passes the body-dependent guards."""
    example = PAYLOADS[event].example()
    if event is Event.ASSIGN:
        example["assignee"] = assignee
    return example


def new_case(**fields: Any) -> CaseView:
    return CaseView(
        **{"state": State.DRAFT, "department": "physics", "candidate_email": CANDIDATE_EMAIL}
        | fields
    )


class Driver:
    """Fires events on one case in sequence, advancing the clock, like the service would."""

    def __init__(self, case: CaseView, now: datetime = T0) -> None:
        self.case, self.now = case, now

    def fire(self, event: Event, who: str, payload: object = ..., **kw: Any) -> Decision | Refusal:
        payload = body(event, **kw) if payload is ... else payload
        result = decide(self.case, event, ACTORS[who], payload, self.now, rules=RULES)
        if isinstance(result, Decision):
            self.case = evolve(self.case, result)
        return result

    def ok(self, event: Event, who: str, payload: object = ..., **kw: Any) -> Decision:
        result = self.fire(event, who, payload, **kw)
        assert isinstance(result, Decision), result
        return result

    def refused(self, event: Event, who: str, payload: object = ...) -> Refusal:
        result = self.fire(event, who, payload)
        assert isinstance(result, Refusal), result
        return result


HAPPY_PATH = [
    (Event.INVITE, "hr"),
    (Event.CONSENT, "candidate"),
    (Event.VERIFY_IDENTITY, "hr"),
    (Event.ORDER, "system"),
    (Event.VENDOR_ACK, "vendor"),
    (Event.VENDOR_COMPLETE, "vendor"),
    (Event.CLAIM, "reviewer_a"),
    (Event.PROPOSE_ADVERSE, "reviewer_a"),
    (Event.APPROVE_ADVERSE, "manager_a"),
]


def to_pending_review(driver: Driver) -> Driver:
    for event, who in HAPPY_PATH[:6]:
        driver.ok(event, who)
        driver.now += timedelta(minutes=5)
    return driver


def test_a_case_goes_from_request_to_cleared() -> None:
    driver = to_pending_review(Driver(new_case()))
    claimed = driver.ok(Event.CLAIM, "reviewer_a")
    assert claimed.assignee == "reviewer-a"
    cleared = driver.ok(Event.CLEAR, "reviewer_a")
    assert driver.case.state is State.CLEARED
    assert cleared.effects == (Effect.CLOSE_CASE, Effect.ANNOUNCE_COMPLETION)
    assert allowed_events(driver.case, ACTORS["manager_a"], driver.now, rules=RULES) == []


def test_adverse_action_waits_five_business_days_past_thanksgiving() -> None:
    driver = to_pending_review(Driver(new_case()))
    driver.ok(Event.CLAIM, "reviewer_a")
    proposal = driver.ok(Event.PROPOSE_ADVERSE, "reviewer_a")
    assert proposal.audit_data["payload"] == {"findings_count": 1}
    driver.now = T0  # Wednesday before Thanksgiving, 10:00 in Boston
    approval = driver.ok(Event.APPROVE_ADVERSE, "manager_a")
    assert approval.effects == (Effect.ISSUE_PRE_ADVERSE_NOTICE, Effect.START_WAITING_PERIOD)
    assert approval.adverse_deadline == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert approval.audit_data["adverse_deadline"] == "2026-12-03T15:00:00Z"

    driver.now = datetime(2026, 12, 3, 14, 59, tzinfo=UTC)
    early = driver.refused(Event.FINALIZE_ADVERSE, "reviewer_a")
    assert (early.code, early.reason) == (
        RefusalCode.GUARD,
        "the waiting period ends 2026-12-03T15:00:00Z",
    )
    assert Event.DISPUTE in allowed_events(driver.case, ACTORS["candidate"], driver.now)

    driver.now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    late = driver.refused(Event.DISPUTE, "candidate")
    assert late.reason == "the dispute period ended 2026-12-03T15:00:00Z"
    final = driver.ok(Event.FINALIZE_ADVERSE, "reviewer_a")
    assert final.effects == (
        Effect.ISSUE_FINAL_NOTICE,
        Effect.CLOSE_CASE,
        Effect.ANNOUNCE_COMPLETION,
    )
    assert driver.case.state is State.NOT_CLEARED


def test_the_proposer_never_approves_even_as_manager() -> None:
    driver = to_pending_review(Driver(new_case()))
    driver.ok(Event.CLAIM, "manager_a")
    driver.ok(Event.PROPOSE_ADVERSE, "manager_a")
    refusal = driver.refused(Event.APPROVE_ADVERSE, "manager_a")
    assert refusal.code is RefusalCode.CONFLICT_OF_INTEREST
    assert refusal.reason == "you proposed this adverse action; another manager must approve it"
    assert Event.APPROVE_ADVERSE not in allowed_events(driver.case, ACTORS["manager_a"], T0)
    assert Event.APPROVE_ADVERSE in allowed_events(driver.case, ACTORS["manager_b"], T0)


def test_a_dispute_sends_the_case_back_for_a_new_proposal() -> None:
    driver = to_pending_review(Driver(new_case()))
    driver.ok(Event.CLAIM, "reviewer_a")
    driver.ok(Event.PROPOSE_ADVERSE, "reviewer_a")
    driver.ok(Event.APPROVE_ADVERSE, "manager_a")
    dispute = driver.ok(Event.DISPUTE, "candidate")
    assert dispute.effects == (Effect.RECORD_DISPUTE, Effect.REQUEST_REINVESTIGATION)
    assert dispute.audit_data["payload"] == {}  # the statement is PII
    driver.ok(Event.RESOLVE_DISPUTE, "reviewer_a")
    assert driver.case.state is State.UNDER_REVIEW
    assert (driver.case.proposed_by, driver.case.adverse_deadline) == (None, None)
    assert not driver.case.open_dispute
    assert driver.refused(Event.APPROVE_ADVERSE, "manager_b").code is RefusalCode.WRONG_STATE


def test_an_open_vendor_dispute_blocks_finalizing() -> None:
    driver = to_pending_review(Driver(new_case()))
    driver.ok(Event.CLAIM, "reviewer_a")
    driver.ok(Event.PROPOSE_ADVERSE, "reviewer_a")
    driver.ok(Event.APPROVE_ADVERSE, "manager_a")
    driver.case = replace(driver.case, open_dispute=True)
    driver.now += timedelta(days=30)
    assert driver.refused(Event.FINALIZE_ADVERSE, "manager_b").reason == (
        "a dispute is open; resolve it first"
    )


def test_order_needs_verified_identity_and_says_so() -> None:
    ready_without_check = new_case(
        state=State.READY, consent_at=T0 - timedelta(days=1), identity_verified_at=None
    )
    refusal = decide(ready_without_check, Event.ORDER, ACTORS["system"], {}, T0)
    assert (refusal.code, refusal.reason) == (RefusalCode.GUARD, "identity not verified")
    assert allowed_events(ready_without_check, ACTORS["system"], T0) == []


def test_a_year_old_acknowledgement_needs_a_new_invitation() -> None:
    signed = datetime(2025, 11, 1, 12, tzinfo=UTC)
    driver = Driver(new_case(state=State.CONSENT_RECEIVED, consent_at=signed), now=T0)
    refusal = driver.refused(Event.VERIFY_IDENTITY, "hr")
    assert refusal.reason.startswith(
        "CORI acknowledgement older than one year; a new one is needed"
    )
    assert allowed_events(driver.case, ACTORS["hr"], T0) == [Event.INVITE, Event.CANCEL]
    driver.ok(Event.INVITE, "hr")
    assert driver.case.state is State.AWAITING_CONSENT
    assert driver.case.invitation_expires_at == T0 + timedelta(days=14)

    fresh = Driver(new_case(state=State.CONSENT_RECEIVED, consent_at=T0 - timedelta(days=3)))
    assert "no new invitation is needed" in fresh.refused(Event.INVITE, "hr").reason


def test_invitations_expire_after_their_ttl_and_not_before() -> None:
    driver = Driver(new_case())
    invitation = driver.ok(Event.INVITE, "hr")
    assert invitation.invitation_expires_at == T0 + timedelta(days=RULES.consent_ttl_days)
    driver.now = invitation.invitation_expires_at - timedelta(seconds=1)
    assert driver.refused(Event.EXPIRE, "system").reason.startswith("the invitation is valid until")
    driver.now += timedelta(seconds=1)
    assert "expired" in driver.refused(Event.CONSENT, "candidate").reason
    assert driver.ok(Event.EXPIRE, "system").effects == (
        Effect.REVOKE_PORTAL_LINKS,
        Effect.CLOSE_CASE,
    )
    assert driver.case.state is State.EXPIRED


def test_consent_must_accept_the_current_disclosure() -> None:
    driver = Driver(new_case())
    driver.ok(Event.INVITE, "hr")
    stale = ConsentBody.example() | {"disclosure_version": "2019-01"}
    refusal = driver.refused(Event.CONSENT, "candidate", stale)
    assert refusal.reason == "the disclosure has changed; read and accept version 2025-01"


def test_invite_needs_the_candidate_email() -> None:
    refusal = Driver(new_case(candidate_email=None)).refused(Event.INVITE, "hr")
    assert (refusal.code, refusal.reason) == (RefusalCode.GUARD, "candidate email not set")


def test_hr_cancels_before_the_order_and_a_manager_after() -> None:
    before = Driver(new_case(state=State.READY)).ok(Event.CANCEL, "hr")
    assert Effect.CANCEL_VENDOR_ORDER not in before.effects
    submitted = new_case(state=State.SUBMITTED)
    refusal = Driver(submitted).refused(Event.CANCEL, "hr")
    assert (refusal.code, refusal.reason) == (
        RefusalCode.FORBIDDEN_ROLE,
        "in `submitted`, `cancel` is for the manager role",
    )
    after = Driver(submitted).ok(Event.CANCEL, "manager_a")
    assert after.effects == (Effect.CANCEL_VENDOR_ORDER, Effect.CLOSE_CASE)
    assert Driver(new_case(state=State.IN_PROGRESS)).refused(Event.CANCEL, "manager_a").code is (
        RefusalCode.WRONG_STATE
    )


@pytest.mark.parametrize(
    ("who", "event", "state", "code"),
    [
        ("reviewer_a", Event.INVITE, State.DRAFT, RefusalCode.FORBIDDEN_ROLE),
        ("hr", Event.CLEAR, State.UNDER_REVIEW, RefusalCode.FORBIDDEN_ROLE),
        ("hr", Event.VERIFY_IDENTITY, State.DRAFT, RefusalCode.WRONG_STATE),
        ("hr_other", Event.INVITE, State.DRAFT, RefusalCode.OUT_OF_SCOPE),
        ("staff_candidate", Event.INVITE, State.DRAFT, RefusalCode.CONFLICT_OF_INTEREST),
        ("staff_candidate", Event.CLAIM, State.PENDING_REVIEW, RefusalCode.CONFLICT_OF_INTEREST),
        ("reviewer_b", Event.CLEAR, State.UNDER_REVIEW, RefusalCode.NOT_ASSIGNED),
        ("auditor", Event.CLEAR, State.UNDER_REVIEW, RefusalCode.FORBIDDEN_ROLE),
        ("vendor", Event.CLEAR, State.UNDER_REVIEW, RefusalCode.FORBIDDEN_ROLE),
    ],
)
def test_refusals_say_which_rule_was_broken(
    who: str, event: Event, state: State, code: RefusalCode
) -> None:
    case = new_case(state=state, assigned_to="reviewer-a")
    result = decide(case, event, ACTORS[who], body(event), T0, rules=RULES)
    assert isinstance(result, Refusal)
    assert result.code is code
    assert event not in allowed_events(case, ACTORS[who], T0, rules=RULES)


def test_managers_act_on_cases_assigned_to_others_and_reassign_them() -> None:
    driver = Driver(new_case(state=State.UNDER_REVIEW, assigned_to="reviewer-a"))
    reassign = driver.ok(Event.ASSIGN, "manager_a", assignee="reviewer-b")
    assert reassign.assignee == driver.case.assigned_to == "reviewer-b"
    assert driver.refused(
        Event.ASSIGN, "manager_a", {"assignee": " pat.candidate@EXAMPLE.org"}
    ).code is (RefusalCode.CONFLICT_OF_INTEREST)
    driver.ok(Event.CLEAR, "manager_a")


def test_an_invalid_body_is_refused_without_echoing_pii() -> None:
    driver = Driver(new_case())
    driver.ok(Event.INVITE, "hr")
    bad = ConsentBody.example() | {"ssn": "666-12-3456", "favourite_colour": "blue"}
    refusal = driver.refused(Event.CONSENT, "candidate", bad)
    assert refusal.code is RefusalCode.INVALID_PAYLOAD
    assert [(e["loc"], e["type"]) for e in refusal.errors] == [
        (["ssn"], "value_error"),
        (["favourite_colour"], "extra_forbidden"),
    ]
    assert "666" not in repr(refusal)
    assert "3456" not in repr(refusal)
    assert driver.case.state is State.AWAITING_CONSENT


@pytest.mark.parametrize("payload", [None, {}, NoteBody(), NoteBody(note="fine")])
def test_empty_bodies_may_be_none_a_dict_or_a_model(payload: object) -> None:
    assert isinstance(Driver(new_case()).fire(Event.INVITE, "hr", payload), Decision)


@pytest.mark.parametrize(
    "payload", ["{}", [1], ProposeAdverseBody.model_validate(body(Event.PROPOSE_ADVERSE))]
)
def test_bodies_of_the_wrong_shape_are_invalid(payload: object) -> None:
    refusal = Driver(new_case()).refused(Event.INVITE, "hr", payload)
    assert refusal.code is RefusalCode.INVALID_PAYLOAD


def test_create_is_for_hr_of_the_department_and_never_for_oneself() -> None:
    request = CreateBody.example()
    created = decide_create(ACTORS["hr"], request, T0)
    assert isinstance(created, Decision)
    assert (created.from_state, created.to_state) == (None, State.DRAFT)
    assert created.audit_data["payload"] == {
        "department": "physics",
        "position_title": "Research Technician",
        "package": "standard",
    }
    assert decide(None, Event.CREATE, ACTORS["hr"], request, T0) == created
    assert decide_create(ACTORS["hr_other"], request, T0).code is RefusalCode.OUT_OF_SCOPE
    assert decide_create(ACTORS["reviewer_a"], request, T0).code is RefusalCode.FORBIDDEN_ROLE
    own = request | {"candidate": request["candidate"] | {"email": "HR@university.edu"}}
    assert decide_create(ACTORS["hr"], own, T0).code is RefusalCode.CONFLICT_OF_INTEREST
    assert (
        decide(new_case(), Event.CREATE, ACTORS["hr"], request, T0).code is RefusalCode.WRONG_STATE
    )
    assert decide(None, Event.INVITE, ACTORS["hr"], {}, T0).code is RefusalCode.WRONG_STATE


def test_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(new_case(), Event.INVITE, ACTORS["hr"], {}, datetime(2026, 1, 5, 12))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        allowed_events(new_case(), ACTORS["hr"], datetime(2026, 1, 5, 12))  # noqa: DTZ001


def test_evolve_refuses_a_decision_made_for_another_state() -> None:
    decision = Driver(new_case()).ok(Event.INVITE, "hr")
    with pytest.raises(ValueError, match="made for `draft`"):
        evolve(new_case(state=State.READY), decision)


# --- the stateful property test -----------------------------------------------------------


class Lifecycle(RuleBasedStateMachine):
    """Random actors fire random events on one case while time passes.

    Invariants after every step: final states never change; no case beyond `ready` lacks
    consent and identity verification; `not_cleared` only after an approval by someone
    other than the proposer and an elapsed deadline; `allowed_events` agrees with what
    `decide` accepts; audit data never holds PII.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2026, 3, 2, 14, tzinfo=UTC)
        created = decide_create(ACTORS["hr"], CreateBody.example(), self.now, rules=RULES)
        assert isinstance(created, Decision)
        self.case = new_case(state=created.to_state)
        self.final: State | None = None
        self.approval: tuple[str, str, datetime, datetime] | None = None

    @initialize(
        depth=st.integers(min_value=0, max_value=len(HAPPY_PATH)) | st.just(len(HAPPY_PATH))
    )
    def start_somewhere_along_the_way(self, depth: int) -> None:
        """Begin some runs deep in the lifecycle, so the adverse-action steps get explored."""
        for event, who in HAPPY_PATH[:depth]:
            assert isinstance(self.fire(who, event, "reviewer-a"), Decision)

    @rule(delta=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9)))
    def time_passes(self, delta: timedelta) -> None:
        self.now += delta

    @precondition(lambda self: self.case.adverse_deadline or self.case.invitation_expires_at)
    @rule(offset=st.sampled_from([-timedelta(microseconds=1), timedelta(0), timedelta(hours=1)]))
    def time_runs_to_a_deadline(self, offset: timedelta) -> None:
        """Jump to just before, at or after the next deadline, so both sides get tested."""
        deadline = self.case.adverse_deadline or self.case.invitation_expires_at
        assert deadline is not None
        self.now = max(self.now, deadline + offset)

    @precondition(lambda self: self.case.state is State.PRE_ADVERSE_NOTICE)
    @rule(flag=st.booleans())
    def vendor_reports_a_dispute(self, flag: bool) -> None:
        self.case = replace(self.case, open_dispute=flag)

    @rule(who=st.sampled_from(sorted(ACTORS)), event=st.sampled_from(Event),
          assignee=st.sampled_from(ASSIGNEES))  # fmt: skip
    def anyone_fires_anything(self, who: str, event: Event, assignee: str) -> None:
        self.fire(who, event, assignee)

    def allowed(self) -> dict[Event, list[str]]:
        """Each event someone may fire now, with who may fire it."""
        options: dict[Event, list[str]] = {}
        for who, actor in sorted(ACTORS.items()):
            for event in allowed_events(self.case, actor, self.now, rules=RULES):
                options.setdefault(event, []).append(who)
        return options

    def fire_one_of(self, data: st.DataObject, options: dict[Event, list[str]]) -> None:
        if options:
            event = data.draw(st.sampled_from([e for e in Event if e in options]))
            who = data.draw(st.sampled_from(options[event]))
            assert isinstance(
                self.fire(who, event, data.draw(st.sampled_from(ASSIGNEES))), Decision
            )

    @rule(data=st.data())
    def someone_fires_an_allowed_event(self, data: st.DataObject) -> None:
        self.fire_one_of(data, self.allowed())

    @rule(data=st.data())
    def the_case_moves_on(self, data: st.DataObject) -> None:
        """Like the rule above without cancel and expire, so more cases get far."""
        options = self.allowed()
        self.fire_one_of(data, {e: w for e, w in options.items() if e not in {E_CANCEL, E_EXPIRE}})

    def fire(self, who: str, event: Event, assignee: str) -> Decision | Refusal:
        actor, before = ACTORS[who], self.case
        allowed = event in allowed_events(before, actor, self.now, rules=RULES)
        result = decide(before, event, actor, body(event, assignee), self.now, rules=RULES)
        assert allowed == isinstance(result, Decision), (who, event, before, result)
        if isinstance(result, Refusal):
            return result
        assert before.state not in FINAL_STATES
        assert who not in NEVER_ALLOWED
        row = row_for(event, before.state)
        assert row is not None
        assert (result.from_state, result.to_state) == (before.state, row.target)
        audit = json.dumps(result.audit_data).casefold()
        assert not any(secret.casefold() in audit for secret in SECRETS)
        self.check_decision(result, before, actor)
        self.case = evolve(before, result)
        return result

    def check_decision(self, decision: Decision, before: CaseView, actor: ActorView) -> None:
        if decision.event is Event.ORDER:
            assert before.consent_at is not None
            assert before.identity_verified_at is not None
            assert before.consent_at <= before.identity_verified_at <= self.now
            assert self.now < before.consent_at.replace(year=before.consent_at.year + 1)
        if decision.event is Event.APPROVE_ADVERSE:
            assert before.proposed_by is not None
            assert before.proposed_by != actor.id
            assert decision.adverse_deadline == add_business_days(self.now, 5)
            self.approval = (actor.id, before.proposed_by, self.now, decision.adverse_deadline)
        if decision.event is Event.DISPUTE:
            assert before.adverse_deadline is not None
            assert self.now < before.adverse_deadline
        if decision.event is Event.FINALIZE_ADVERSE:
            assert self.approval is not None
            approver, proposer, _, deadline = self.approval
            assert approver != proposer
            assert self.now >= deadline == before.adverse_deadline
            assert not before.open_dispute
        if Effect.WITHDRAW_PROPOSAL in decision.effects:
            self.approval = None
        if Role.MANAGER not in actor.roles and decision.event in {
            Event.CLEAR, Event.PROPOSE_ADVERSE, Event.RESOLVE_DISPUTE, Event.FINALIZE_ADVERSE
        }:  # fmt: skip
            assert before.assigned_to == actor.id

    @invariant()
    def final_states_never_change(self) -> None:
        if self.final is not None:
            assert self.case.state is self.final
        elif self.case.state in FINAL_STATES:
            self.final = self.case.state

    @invariant()
    def nothing_is_ordered_without_consent_and_identity(self) -> None:
        if self.case.state in set(State) - FINAL_STATES - {
            State.DRAFT, State.AWAITING_CONSENT, State.CONSENT_RECEIVED, State.READY
        }:  # fmt: skip
            assert self.case.consent_at is not None
            assert self.case.identity_verified_at is not None

    @invariant()
    def not_cleared_only_after_a_second_managers_approval(self) -> None:
        if self.case.state is State.NOT_CLEARED:
            assert self.approval is not None
            assert self.approval[0] != self.approval[1]


Lifecycle.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_lifecycle = Lifecycle.TestCase
