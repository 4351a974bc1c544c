"""The transition table: SPEC's rows are all there, and the structural checks catch mistakes."""

from dataclasses import replace

import pytest

from workflow import PAYLOADS, TABLE, Effect, Event, Role, State, Transition
from workflow.payloads import NoteBody
from workflow.table import check_table, row_for, rows_of

S, E, R = State, Event, Role

# SPEC.md, "Case lifecycle": event, from, to, by. The table may add rows, never lose these.
SPEC_ROWS = [
    (E.INVITE, {S.DRAFT}, S.AWAITING_CONSENT, {R.HR}),
    (E.CONSENT, {S.AWAITING_CONSENT}, S.CONSENT_RECEIVED, {R.CANDIDATE}),
    (E.VERIFY_IDENTITY, {S.CONSENT_RECEIVED}, S.READY, {R.HR}),
    (E.ORDER, {S.READY}, S.SUBMITTED, {R.SYSTEM, R.HR}),
    (E.VENDOR_ACK, {S.SUBMITTED}, S.IN_PROGRESS, {R.VENDOR}),
    (E.VENDOR_COMPLETE, {S.SUBMITTED, S.IN_PROGRESS}, S.PENDING_REVIEW, {R.VENDOR}),
    (E.CLAIM, {S.PENDING_REVIEW}, S.UNDER_REVIEW, {R.REVIEWER}),
    (E.ASSIGN, {S.PENDING_REVIEW}, S.UNDER_REVIEW, {R.MANAGER}),
    (E.CLEAR, {S.UNDER_REVIEW, S.PRE_ADVERSE_NOTICE}, S.CLEARED, {R.REVIEWER}),
    (E.PROPOSE_ADVERSE, {S.UNDER_REVIEW}, S.ADVERSE_PROPOSED, {R.REVIEWER}),
    (E.APPROVE_ADVERSE, {S.ADVERSE_PROPOSED}, S.PRE_ADVERSE_NOTICE, {R.MANAGER}),
    (E.REJECT_ADVERSE, {S.ADVERSE_PROPOSED}, S.UNDER_REVIEW, {R.MANAGER}),
    (E.DISPUTE, {S.PRE_ADVERSE_NOTICE}, S.DISPUTED, {R.CANDIDATE}),
    (E.RESOLVE_DISPUTE, {S.DISPUTED}, S.UNDER_REVIEW, {R.REVIEWER}),
    (E.FINALIZE_ADVERSE, {S.PRE_ADVERSE_NOTICE}, S.NOT_CLEARED, {R.REVIEWER, R.MANAGER}),
    (E.CANCEL, {S.DRAFT, S.AWAITING_CONSENT, S.CONSENT_RECEIVED, S.READY, S.SUBMITTED},
     S.CANCELLED, {R.MANAGER}),
    (E.EXPIRE, {S.AWAITING_CONSENT}, S.EXPIRED, {R.SYSTEM}),
]  # fmt: skip


@pytest.mark.parametrize(("event", "sources", "target", "by"), SPEC_ROWS, ids=lambda v: str(v))
def test_every_spec_row_is_in_the_table(
    event: Event, sources: set[State], target: State, by: set[Role]
) -> None:
    for source in sources:
        row = row_for(event, source)
        assert row is not None, f"{event} from {source}"
        assert row.target is target
        assert by <= row.by


def test_create_starts_a_draft_for_hr() -> None:
    (row,) = rows_of(Event.CREATE)
    assert (set(row.sources), row.target, set(row.by)) == (set(), State.DRAFT, {Role.HR})


def test_a_manager_may_do_what_a_reviewer_may() -> None:
    for row in TABLE:
        if Role.REVIEWER in row.by:
            assert Role.MANAGER in row.by, row.event


def test_the_sensitive_steps_have_their_guards_and_effects() -> None:
    def guard_names(event: Event, state: State) -> set[str]:
        row = row_for(event, state)
        assert row is not None
        return {guard.__name__ for guard in row.guards}

    assert "consented_and_verified" in guard_names(E.ORDER, S.READY)
    assert "approver_is_not_proposer" in guard_names(E.APPROVE_ADVERSE, S.ADVERSE_PROPOSED)
    assert "waiting_period_over" in guard_names(E.FINALIZE_ADVERSE, S.PRE_ADVERSE_NOTICE)
    assert "before_dispute_deadline" in guard_names(E.DISPUTE, S.PRE_ADVERSE_NOTICE)
    assert "acknowledgement_current" in guard_names(E.VERIFY_IDENTITY, S.CONSENT_RECEIVED)
    queued = row_for(E.ORDER, S.READY)
    assert queued is not None
    assert queued.effects == (Effect.QUEUE_VENDOR_ORDER,)
    cancelled = row_for(E.CANCEL, S.SUBMITTED)
    assert cancelled is not None
    assert Effect.CANCEL_VENDOR_ORDER in cancelled.effects


def test_payloads_cover_every_event() -> None:
    assert set(PAYLOADS) == set(Event)


def test_the_real_table_is_sound() -> None:
    assert check_table(TABLE) == []


def swap(old: Transition, new: Transition | None) -> tuple[Transition, ...]:
    return tuple(row for row in (new if row is old else row for row in TABLE) if row is not None)


def only_row(event: Event) -> Transition:
    (row,) = rows_of(event)
    return row


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (swap(only_row(E.EXPIRE), None), "events without a row: expire"),
        (swap(only_row(E.EXPIRE), replace(only_row(E.EXPIRE), sources={S.CLEARED})),
         "`expire` leaves the final state `cleared`"),
        (swap(only_row(E.EXPIRE), replace(only_row(E.EXPIRE), by=set())),
         "`expire` has a row nobody may fire"),
        (swap(rows_of(E.CANCEL)[1], replace(rows_of(E.CANCEL)[1], payload=NoteBody)),
         "`cancel` has rows with different payload schemas"),
        (swap(only_row(E.DISPUTE), None), "`disputed` cannot be reached from `create`"),
        (swap(only_row(E.RESOLVE_DISPUTE), None), "`disputed` is a dead end: no event leaves it"),
        (swap(only_row(E.APPROVE_ADVERSE),
              replace(only_row(E.APPROVE_ADVERSE), sources={S.ADVERSE_PROPOSED, S.CLEARED})),
         "`approve_adverse` leaves the final state `cleared`"),
        ((*TABLE, replace(only_row(E.EXPIRE), target=S.DRAFT)),
         "`expire` has two rows from `awaiting_consent`"),
        ((*TABLE, replace(only_row(E.CREATE), event=E.CLAIM)),
         "exactly one row, for `create`, must have no source state"),
    ],
)  # fmt: skip
def test_check_table_reports_broken_tables(table: tuple[Transition, ...], problem: str) -> None:
    assert problem in check_table(table)


def test_check_table_finds_states_that_can_never_finish() -> None:
    # disputed <-> under_review only: a loop with no way out to a final state.
    trap = (
        *(row for row in TABLE if not {S.UNDER_REVIEW, S.DISPUTED} & set(row.sources)),
        replace(only_row(E.DISPUTE), sources={S.UNDER_REVIEW}),
        only_row(E.RESOLVE_DISPUTE),
    )
    assert "`under_review` can never reach a final state" in check_table(trap)
