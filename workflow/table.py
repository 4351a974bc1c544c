"""The case lifecycle as one declarative table: the single source of truth.

Each row says: this event, from these states, leads to that state, may be fired by these
roles, when these guards pass, with this body, and asks the service for these effects.
An event may have several rows when the roles or effects differ by source state (e.g.
``cancel`` from ``submitted`` also cancels the vendor order and is for managers only).
``decide``, ``allowed_events``, the API's body schemas (``PAYLOADS``), the docs diagram
and the tests all read this table. It is checked when imported: every event and state
is used, every state is reachable, no state is a dead end and nothing leaves a final one.
"""

from collections import deque
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from workflow import guards
from workflow.guards import Guard
from workflow.payloads import (
    AssignBody,
    Body,
    ConsentBody,
    CreateBody,
    DisputeBody,
    NoteBody,
    ProposeAdverseBody,
    ReasonBody,
    ResolveDisputeBody,
    VendorAckBody,
    VendorCompleteBody,
    VerifyIdentityBody,
)
from workflow.states import FINAL_STATES, STAFF_ROLES, Effect, Event, Role, State


@dataclass(frozen=True)
class Transition:
    """One row. Empty ``sources`` means the row creates the case (∅ → ``target``)."""

    event: Event
    sources: AbstractSet[State]
    target: State
    by: AbstractSet[Role]
    payload: type[Body] = NoteBody
    guards: tuple[Guard, ...] = ()
    effects: tuple[Effect, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", frozenset(self.sources))
        object.__setattr__(self, "by", frozenset(self.by))


S, E, R, X = State, Event, Role, Effect
BEFORE_ORDER: Final = frozenset({S.DRAFT, S.AWAITING_CONSENT, S.CONSENT_RECEIVED, S.READY})
REVIEWERS: Final = frozenset({R.REVIEWER, R.MANAGER})  # a manager may do what a reviewer may

TABLE: Final[tuple[Transition, ...]] = (
    Transition(E.CREATE, set(), S.DRAFT, by={R.HR}, payload=CreateBody),
    Transition(E.INVITE, {S.DRAFT, S.AWAITING_CONSENT}, S.AWAITING_CONSENT, by={R.HR},
               guards=(guards.candidate_email_set,), effects=(X.ISSUE_INVITATION,)),
    # A CORI acknowledgement is good for a year; past that, the candidate signs a new one.
    Transition(E.INVITE, {S.CONSENT_RECEIVED, S.READY}, S.AWAITING_CONSENT, by={R.HR},
               guards=(guards.candidate_email_set, guards.acknowledgement_lapsed),
               effects=(X.ISSUE_INVITATION,)),
    Transition(E.CONSENT, {S.AWAITING_CONSENT}, S.CONSENT_RECEIVED, by={R.CANDIDATE},
               payload=ConsentBody,
               guards=(guards.invitation_open, guards.current_disclosure),
               effects=(X.RECORD_CONSENT,)),
    Transition(E.VERIFY_IDENTITY, {S.CONSENT_RECEIVED}, S.READY, by={R.HR},
               payload=VerifyIdentityBody, guards=(guards.acknowledgement_current,),
               effects=(X.RECORD_IDENTITY_VERIFICATION,)),
    Transition(E.ORDER, {S.READY}, S.SUBMITTED, by={R.SYSTEM, R.HR},
               guards=(guards.consented_and_verified,), effects=(X.QUEUE_VENDOR_ORDER,)),
    Transition(E.VENDOR_ACK, {S.SUBMITTED}, S.IN_PROGRESS, by={R.VENDOR},
               payload=VendorAckBody, effects=(X.RECORD_VENDOR_STATUS,)),
    Transition(E.VENDOR_COMPLETE, {S.SUBMITTED, S.IN_PROGRESS}, S.PENDING_REVIEW,
               by={R.VENDOR}, payload=VendorCompleteBody, effects=(X.STORE_REPORT,)),
    Transition(E.CLAIM, {S.PENDING_REVIEW}, S.UNDER_REVIEW, by=REVIEWERS,
               effects=(X.RECORD_ASSIGNMENT,)),
    # From under_review too: the manager's "reassign".
    Transition(E.ASSIGN, {S.PENDING_REVIEW, S.UNDER_REVIEW}, S.UNDER_REVIEW, by={R.MANAGER},
               payload=AssignBody, guards=(guards.assignee_is_not_candidate,),
               effects=(X.RECORD_ASSIGNMENT,)),
    Transition(E.CLEAR, {S.UNDER_REVIEW}, S.CLEARED, by=REVIEWERS,
               guards=(guards.assigned_or_manager,),
               effects=(X.CLOSE_CASE, X.ANNOUNCE_COMPLETION)),
    Transition(E.CLEAR, {S.PRE_ADVERSE_NOTICE}, S.CLEARED, by=REVIEWERS,
               guards=(guards.assigned_or_manager,),
               effects=(X.WITHDRAW_PROPOSAL, X.CLOSE_CASE, X.ANNOUNCE_COMPLETION)),
    Transition(E.PROPOSE_ADVERSE, {S.UNDER_REVIEW}, S.ADVERSE_PROPOSED, by=REVIEWERS,
               payload=ProposeAdverseBody, guards=(guards.assigned_or_manager,),
               effects=(X.RECORD_ASSESSMENT,)),
    Transition(E.APPROVE_ADVERSE, {S.ADVERSE_PROPOSED}, S.PRE_ADVERSE_NOTICE, by={R.MANAGER},
               guards=(guards.approver_is_not_proposer,),
               effects=(X.ISSUE_PRE_ADVERSE_NOTICE, X.START_WAITING_PERIOD)),
    Transition(E.REJECT_ADVERSE, {S.ADVERSE_PROPOSED}, S.UNDER_REVIEW, by={R.MANAGER},
               payload=ReasonBody, effects=(X.WITHDRAW_PROPOSAL,)),
    Transition(E.DISPUTE, {S.PRE_ADVERSE_NOTICE}, S.DISPUTED, by={R.CANDIDATE},
               payload=DisputeBody, guards=(guards.before_dispute_deadline,),
               effects=(X.RECORD_DISPUTE, X.REQUEST_REINVESTIGATION)),
    # Back to review: acting on the outcome needs a new proposal, approval and notice.
    Transition(E.RESOLVE_DISPUTE, {S.DISPUTED}, S.UNDER_REVIEW, by=REVIEWERS,
               payload=ResolveDisputeBody, guards=(guards.assigned_or_manager,),
               effects=(X.CLOSE_DISPUTE, X.WITHDRAW_PROPOSAL)),
    Transition(E.FINALIZE_ADVERSE, {S.PRE_ADVERSE_NOTICE}, S.NOT_CLEARED, by=REVIEWERS,
               guards=(guards.assigned_or_manager, guards.waiting_period_over),
               effects=(X.ISSUE_FINAL_NOTICE, X.CLOSE_CASE, X.ANNOUNCE_COMPLETION)),
    # hr cancels "before the vendor order" (SPEC roles); a manager also once it is queued.
    Transition(E.CANCEL, BEFORE_ORDER, S.CANCELLED, by={R.HR, R.MANAGER}, payload=ReasonBody,
               effects=(X.REVOKE_PORTAL_LINKS, X.CLOSE_CASE)),
    Transition(E.CANCEL, {S.SUBMITTED}, S.CANCELLED, by={R.MANAGER}, payload=ReasonBody,
               effects=(X.CANCEL_VENDOR_ORDER, X.CLOSE_CASE)),
    Transition(E.EXPIRE, {S.AWAITING_CONSENT}, S.EXPIRED, by={R.SYSTEM},
               guards=(guards.invitation_lapsed,),
               effects=(X.REVOKE_PORTAL_LINKS, X.CLOSE_CASE)),
)  # fmt: skip


class TableError(Exception):
    """The table breaks one of its structural rules; raised at import."""


def _reachable(start: Iterable[State], table: Iterable[Transition]) -> set[State]:
    rows = tuple(table)
    seen, queue = set(start), deque(start)
    while queue:
        state = queue.popleft()
        for row in rows:
            if state in row.sources and row.target not in seen:
                seen.add(row.target)
                queue.append(row.target)
    return seen


def check_table(table: tuple[Transition, ...]) -> list[str]:
    """Every structural problem of ``table``, as sentences; empty when it is sound."""
    problems: list[str] = []
    creating = [row for row in table if not row.sources]
    if [row.event for row in creating] != [Event.CREATE]:
        problems.append("exactly one row, for `create`, must have no source state")
    missing = [event.value for event in Event if event not in {row.event for row in table}]
    if missing:
        problems.append(f"events without a row: {', '.join(missing)}")
    seen: set[tuple[Event, State]] = set()
    schemas: dict[Event, type[Body]] = {}
    for row in table:
        if not row.by:
            problems.append(f"`{row.event}` has a row nobody may fire")
        if schemas.setdefault(row.event, row.payload) is not row.payload:
            problems.append(f"`{row.event}` has rows with different payload schemas")
        for source in sorted(row.sources):
            if (row.event, source) in seen:
                problems.append(f"`{row.event}` has two rows from `{source}`")
            seen.add((row.event, source))
            if source in FINAL_STATES:
                problems.append(f"`{row.event}` leaves the final state `{source}`")
    reachable = _reachable([row.target for row in creating], table)
    for state in State:
        if state not in reachable:
            problems.append(f"`{state}` cannot be reached from `create`")
        elif state not in FINAL_STATES:
            if not any(state in row.sources and row.target != state for row in table):
                problems.append(f"`{state}` is a dead end: no event leaves it")
            elif not _reachable([state], table) & FINAL_STATES:
                problems.append(f"`{state}` can never reach a final state")
    return problems


if _problems := check_table(TABLE):
    raise TableError("; ".join(_problems))

_ROWS: Final[Mapping[tuple[Event, State], Transition]] = MappingProxyType(
    {(row.event, source): row for row in TABLE for source in row.sources}
)

_BY_EVENT: Final[Mapping[Event, tuple[Transition, ...]]] = MappingProxyType(
    {event: tuple(row for row in TABLE if row.event == event) for event in Event}
)

# The body schema of each event, for the API (OpenAPI, 422s) and for decide.
PAYLOADS: Final[Mapping[Event, type[Body]]] = MappingProxyType(
    {row.event: row.payload for row in TABLE}
)


# The events people with accounts fire on a case, in ``Event`` order: the API's event
# route documents their bodies, and each needs a label, a form and a "done" message on
# the case page (checked when ``api.pages.cases`` is imported).
STAFF_EVENTS: Final[tuple[Event, ...]] = tuple(
    event
    for event in Event
    if event is not Event.CREATE and any(row.by & STAFF_ROLES for row in _BY_EVENT[event])
)


def row_for(event: Event, state: State) -> Transition | None:
    """The row that fires ``event`` from ``state``, if there is one."""
    return _ROWS.get((event, state))


def rows_of(event: Event) -> tuple[Transition, ...]:
    return _BY_EVENT[event]
