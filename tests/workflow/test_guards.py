"""The guards one by one: when they pass, and the reason a user reads when they do not."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflow import ActorView, AssignBody, CaseView, ConsentBody, RefusalCode, Role, Rules, State
from workflow import guards as g

NOW = datetime(2026, 6, 1, 16, tzinfo=UTC)
REVIEWER = ActorView("reviewer-a", "ra@university.edu", {Role.REVIEWER})
MANAGER = ActorView("manager-a", "ma@university.edu", {Role.MANAGER})


def context(
    actor: ActorView = REVIEWER, payload: Any = None, rules: Rules | None = None, **case: Any
) -> g.Context:
    fields = {"state": State.UNDER_REVIEW, "department": "physics"} | case
    return g.Context(CaseView(**fields), actor, NOW, rules or Rules(), payload)


def reason(guard: g.Guard, ctx: g.Context) -> str | None:
    refusal = guard(ctx)
    return None if refusal is None else refusal.reason


def test_same_email_ignores_case_and_surrounding_spaces() -> None:
    assert g.same_email(" Pat@Example.ORG", "pat@example.org")
    assert not g.same_email("pat@example.org", "pat@example.com")
    assert not g.same_email(None, None)
    assert not g.same_email("", "")


@pytest.mark.parametrize(
    "alias",
    ["pat+bg@example.org", "pat@example.org.", "PAT+x@Example.Org.", " pat+@example.org "],
)
def test_same_email_sees_plus_tags_and_trailing_dots_as_the_same_mailbox(alias: str) -> None:
    # The attack: an hr user requests a check for themselves as "pat+bg@" or "pat@…org.".
    assert g.same_email(alias, "pat@example.org")
    assert not g.same_email(alias, "pam@example.org")


def test_the_acknowledgement_lasts_exactly_one_year() -> None:
    signed = NOW - timedelta(days=365)  # 2025-06-01: a year ago to the hour
    assert (
        reason(g.acknowledgement_current, context(consent_at=signed + timedelta(seconds=1))) is None
    )
    assert reason(g.acknowledgement_current, context(consent_at=signed)) == (
        "CORI acknowledgement older than one year; a new one is needed (invite the candidate again)"
    )
    assert reason(g.acknowledgement_current, context()) == "consent not recorded"
    leap = datetime(2024, 2, 29, 12, tzinfo=UTC)
    assert g.acknowledgement_valid_until(leap) == datetime(2025, 2, 28, 12, tzinfo=UTC)


def test_order_needs_consent_then_identity() -> None:
    signed = NOW - timedelta(days=2)
    assert reason(g.consented_and_verified, context()) == "consent not recorded"
    assert reason(g.consented_and_verified, context(consent_at=signed)) == "identity not verified"
    # A verification from before the latest consent belongs to an older acknowledgement.
    stale = context(consent_at=signed, identity_verified_at=signed - timedelta(days=1))
    assert reason(g.consented_and_verified, stale) == "identity not verified"
    fine = context(consent_at=signed, identity_verified_at=signed + timedelta(hours=1))
    assert g.consented_and_verified(fine) is None


def test_waiting_period_and_dispute_deadline_meet_at_one_instant() -> None:
    deadline = NOW
    before = g.Context(CaseView(state=State.PRE_ADVERSE_NOTICE, department="p",
                                adverse_deadline=deadline), REVIEWER,
                       NOW - timedelta(microseconds=1), Rules())  # fmt: skip
    at = g.Context(before.case, REVIEWER, NOW, Rules())
    assert g.before_dispute_deadline(before) is None
    assert reason(g.waiting_period_over, before) == "the waiting period ends 2026-06-01T16:00:00Z"
    assert reason(g.before_dispute_deadline, at) == "the dispute period ended 2026-06-01T16:00:00Z"
    assert g.waiting_period_over(at) is None


def test_no_deadline_means_neither_dispute_nor_finalize() -> None:
    ctx = context(state=State.PRE_ADVERSE_NOTICE)
    assert g.before_dispute_deadline(ctx) is not None
    assert g.waiting_period_over(ctx) is not None


def test_approval_needs_a_proposal_by_someone_else() -> None:
    assert reason(g.approver_is_not_proposer, context(MANAGER)) == (
        "no adverse action has been proposed"
    )
    own = g.approver_is_not_proposer(context(MANAGER, proposed_by="manager-a"))
    assert own is not None
    assert own.code is RefusalCode.CONFLICT_OF_INTEREST
    assert g.approver_is_not_proposer(context(MANAGER, proposed_by="reviewer-a")) is None


def test_reviewers_act_on_their_own_assignments_and_managers_on_any() -> None:
    assert g.assigned_or_manager(context(assigned_to="reviewer-a")) is None
    other = g.assigned_or_manager(context(assigned_to="reviewer-b"))
    assert other is not None
    assert other.code is RefusalCode.NOT_ASSIGNED
    assert g.assigned_or_manager(context()) is not None
    assert g.assigned_or_manager(context(MANAGER, assigned_to="reviewer-b")) is None


def test_body_dependent_guards_pass_without_a_body() -> None:
    rules = Rules(disclosure_version="2025-01")
    assert g.current_disclosure(context(rules=rules)) is None
    assert g.assignee_is_not_candidate(context(candidate_email="pat@example.org")) is None
    stale = ConsentBody.model_validate(ConsentBody.example() | {"disclosure_version": "2024-01"})
    assert g.current_disclosure(context(payload=stale, rules=rules)) is not None
    assert g.current_disclosure(context(payload=stale)) is None  # no version configured
    self_assign = AssignBody(assignee="PAT@example.org")
    assert (
        g.assignee_is_not_candidate(context(payload=self_assign, candidate_email="pat@example.org"))
        is not None
    )


@pytest.mark.parametrize(
    ("expires_in", "still_open"),
    [(timedelta(seconds=1), True), (timedelta(0), False), (timedelta(seconds=-1), False)],
)
def test_an_invitation_is_open_until_it_expires_and_then_may_lapse(
    expires_in: timedelta, still_open: bool
) -> None:
    ctx = context(state=State.AWAITING_CONSENT, invitation_expires_at=NOW + expires_in)
    assert (g.invitation_open(ctx) is None) is still_open
    assert (g.invitation_lapsed(ctx) is None) is not still_open
    assert g.invitation_lapsed(context(state=State.AWAITING_CONSENT)) is not None
