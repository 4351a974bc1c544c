"""The two answers of ``decide``: a Decision to apply, or a Refusal saying why not."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from workflow.payloads import Body
from workflow.states import Effect, Event, State


class RefusalCode(StrEnum):
    """Why an event was refused, as a short machine string the API maps to a status."""

    WRONG_STATE = "wrong_state"  # the event does not leave the case's current state
    FORBIDDEN_ROLE = "forbidden_role"  # none of the actor's roles may fire it (here)
    OUT_OF_SCOPE = "out_of_scope"  # hr acting on another department's case
    CONFLICT_OF_INTEREST = "conflict_of_interest"  # own case; approving one's own proposal
    NOT_ASSIGNED = "not_assigned"  # a reviewer acting on a case assigned to someone else
    GUARD = "guard"  # a business condition is not met yet (e.g. identity not verified)
    INVALID_PAYLOAD = "invalid_payload"  # the body does not match the event's schema


@dataclass(frozen=True)
class Refusal:
    """A typed "no". ``reason`` is shown to the user: it says what is missing, never PII.

    ``errors`` is filled for ``invalid_payload`` only: one ``{"loc", "msg", "type"}`` per
    problem, without the submitted values.
    """

    code: RefusalCode
    reason: str
    errors: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Decision:
    """A permitted transition, ready to apply.

    The service applies it atomically: set ``state = to_state``, perform ``effects`` in
    order (see ``EFFECT_MEANINGS``), store the dates computed here, bump the version and
    record one audit event with ``audit_data``. ``payload`` is the validated body and may
    hold PII (consent); ``audit_data`` never does.
    """

    event: Event
    from_state: State | None  # None for create
    to_state: State
    effects: tuple[Effect, ...]
    payload: Body
    actor_id: str
    at: datetime
    audit_data: Mapping[str, Any]
    invitation_expires_at: datetime | None = None  # with ISSUE_INVITATION
    adverse_deadline: datetime | None = None  # with START_WAITING_PERIOD
    assignee: str | None = None  # with RECORD_ASSIGNMENT: a user id, or an email to resolve
