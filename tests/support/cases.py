"""Cases in a given state, built through the real services (no rows written by hand)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from bgcheck.actors import Actor
from bgcheck.keys import load_keyring
from bgcheck.pii import Vault
from bgcheck.services import cases as case_service
from bgcheck.services.cases import CaseContext
from bgcheck.settings import Settings
from workflow import ConsentBody, Event, Role

CASE = {
    "department": "FAC",
    "position_title": "Groundskeeper",
    "package": "standard",
    "candidate": {"given_name": "Pat", "family_name": "Candidate", "email": "pat@example.org"},
}
CONSENT = ConsentBody.example() | {
    "given_name": "Pat",
    "family_name": "Candidate",
    "signature": "Pat Candidate",
    "disclosure_version": Settings().disclosure_version,
}
IDENTITY = {"id_type": "passport", "id_last4": "1234", "attested": True}
ASSESSMENT = {
    "findings": ["2019 conviction"],
    "nature_and_gravity": "Theft.",
    "time_elapsed": "Six years.",
    "job_relevance": "Handles cash.",
}


def case_context(settings: Settings) -> CaseContext:
    return CaseContext.from_settings(settings, Vault(load_keyring(settings)))


def new_case(session: Session, ctx: CaseContext, hr: Actor, now: datetime) -> uuid.UUID:
    return case_service.create_case(session, ctx, hr, body=CASE, now=now).id


def invite(session: Session, ctx: CaseContext, hr: Actor, case_id: uuid.UUID, now: datetime) -> str:
    outcome = case_service.fire(
        session,
        ctx,
        hr,
        case_id=case_id,
        event=Event.INVITE,
        body={},
        expected_version=None,
        now=now,
    )
    assert outcome.portal_token is not None
    return outcome.portal_token


def to_pending_review(
    session: Session, ctx: CaseContext, hr: Actor, now: datetime, *, result: str = "consider"
) -> uuid.UUID:
    case_id = new_case(session, ctx, hr, now)
    token = invite(session, ctx, hr, case_id, now)
    case_service.fire_as_candidate(
        session, ctx, token=token, event=Event.CONSENT, body=CONSENT, now=now
    )
    for event, body in ((Event.VERIFY_IDENTITY, IDENTITY), (Event.ORDER, {})):
        case_service.fire(
            session,
            ctx,
            hr,
            case_id=case_id,
            event=event,
            body=body,
            expected_version=None,
            now=now,
        )
    case_service.fire_as_system(
        session,
        ctx,
        case_id=case_id,
        event=Event.VENDOR_COMPLETE,
        body={"result": result},
        now=now,
        as_role=Role.VENDOR,
    )
    return case_id
