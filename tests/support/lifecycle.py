"""Driving a case through the real service as anyone: the stateful tests' shared moves."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bgcheck.cases import service as case_service
from bgcheck.cases.context import CaseContext
from bgcheck.identity.actors import Actor
from bgcheck.platform.errors import BgcheckError
from workflow import PAYLOADS, Event, Role, State

from support.cases import ASSESSMENT, CONSENT, IDENTITY

# A valid body for every event (the candidate's consent and the reviewer's assessment in full).
BODIES: dict[Event, dict[str, Any]] = {event: model.example() for event, model in PAYLOADS.items()}
BODIES |= {
    Event.CONSENT: CONSENT,
    Event.VERIFY_IDENTITY: IDENTITY,
    Event.PROPOSE_ADVERSE: ASSESSMENT,
    Event.VENDOR_COMPLETE: {"result": "consider"},
}
# What someone without an account (the candidate, the vendor, the system) may do, by state.
OUTSIDE_MOVES: dict[State, list[tuple[Event, str]]] = {
    State.AWAITING_CONSENT: [(Event.CONSENT, "candidate")],
    State.READY: [(Event.ORDER, "system")],
    State.SUBMITTED: [(Event.VENDOR_ACK, "vendor"), (Event.VENDOR_COMPLETE, "vendor")],
    State.IN_PROGRESS: [(Event.VENDOR_COMPLETE, "vendor")],
    State.PRE_ADVERSE_NOTICE: [(Event.DISPUTE, "candidate")],
}


def portal_purpose(event: Event) -> str:
    """Which of the candidate's links an event issues (invite) or needs (consent)."""
    return "consent" if event in (Event.INVITE, Event.CONSENT) else "notice"


def fire_as(
    session: Session,
    ctx: CaseContext,
    who: str,
    event: Event,
    body: dict[str, Any],
    *,
    case_id: uuid.UUID,
    actors: Mapping[str, Actor],
    tokens: Mapping[str, str],
    now: datetime,
) -> case_service.Outcome:
    """``event`` fired by ``who``: a staff name in ``actors``, or candidate, vendor, system."""
    if who == "candidate":
        token = tokens.get(portal_purpose(event))
        if token is None:
            raise BgcheckError("no link yet")
        return case_service.fire_as_candidate(
            session, ctx, token=token, event=event, body=body, now=now
        )
    if who in ("vendor", "system"):
        return case_service.fire_as_system(
            session, ctx, case_id=case_id, event=event, body=body, now=now, as_role=Role(who)
        )
    return case_service.fire(
        session, ctx, actors[who], case_id=case_id, event=event, body=body,
        expected_version=None, now=now,
    )  # fmt: skip
