"""Cases in a given state, built through the real services (no rows written by hand)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session

from bgcheck.cases import service as case_service
from bgcheck.cases.service import CaseContext
from bgcheck.crypto.loading import load_keyring
from bgcheck.identity.actors import Actor
from bgcheck.platform.settings import Settings
from bgcheck.vault.store import Vault
from bgcheck.vendors import OrderRequest
from bgcheck.vendors.orders import Desk, apply_order, subject_of
from bgcheck.vendors.sandbox import SandboxVendor
from workflow import ConsentBody, Event

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
    """A case the sandbox vendor has answered, its report stored, through the real path.

    ``consider`` consents with an SSN ending 0000, which the sandbox answers with a
    criminal-record finding.
    """
    case_id = to_submitted(
        session, ctx, hr, now, ssn=RECORD_SSN if result == "consider" else CONSENT["ssn"]
    )
    answer_order(session, ctx, case_id, now)
    return case_id


def to_submitted(
    session: Session, ctx: CaseContext, hr: Actor, now: datetime, *, ssn: str = CONSENT["ssn"]
) -> uuid.UUID:
    """A consented, verified case whose vendor order waits in the outbox."""
    case_id = new_case(session, ctx, hr, now)
    token = invite(session, ctx, hr, case_id, now)
    case_service.fire_as_candidate(
        session, ctx, token=token, event=Event.CONSENT, body=CONSENT | {"ssn": ssn}, now=now
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
    return case_id


RECORD_SSN = "123-45-0000"  # the sandbox vendor finds a criminal record for it


def sandbox_desk(ctx: CaseContext, *, delay_seconds: float = 0.0) -> Desk:
    return Desk(
        ctx=ctx,
        vendor=SandboxVendor(delay_seconds=delay_seconds),
        vendor_id="sandbox",
        max_attempts=3,
        retry_seconds=0.01,
        lease=timedelta(minutes=1),
    )


def answer_order(session: Session, ctx: CaseContext, case_id: uuid.UUID, now: datetime) -> None:
    """The sandbox vendor places and completes the case's order at once; the answer is
    applied as the worker would (``apply_order``)."""
    desk = sandbox_desk(ctx)
    request = OrderRequest(
        idempotency_key=f"vendor_order:{case_id}",
        external_id=str(case_id),
        package="standard",
        subject=subject_of(ctx.vault.details(session, case_id)),
    )
    apply_order(session, desk, case_id, desk.vendor.place_order(request), now)
