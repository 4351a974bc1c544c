"""The read side of cases: what a caller sees of a case, a page of cases, its history,
the audited PII reveal and the notices, each recording its own audit event or CORI
dissemination. The API's routes and the pages both call these; neither holds the rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bgcheck import audit, policy
from bgcheck.audit import dissemination
from bgcheck.audit.queries import list_case_history
from bgcheck.cases import service as case_service
from bgcheck.cases.context import CaseContext
from bgcheck.cases.queries import CaseFilter, list_cases, preload
from bgcheck.identity.actors import Actor
from bgcheck.models import Case, DocumentKind
from bgcheck.vault.store import Contact
from workflow import Event, State


@dataclass(frozen=True, slots=True)
class ContactSeen:
    """The candidate as hr, reviewers and managers see them on a case: no full SSN."""

    given_name: str | None
    family_name: str | None
    email: str | None
    ssn_masked: str | None  # "***-**-6789", once the candidate consented


@dataclass(frozen=True, slots=True)
class CaseSeen:
    """A case as one caller may see it now (the API's ``CaseRead``, the pages' case)."""

    id: uuid.UUID
    department: str
    position_title: str
    package: str
    state: State
    version: int
    created_at: datetime
    updated_at: datetime
    assigned_to: uuid.UUID | None
    invitation_expires_at: datetime | None
    adverse_deadline: datetime | None
    ready_to_finalize: bool
    open_dispute: bool
    vendor_status: str | None
    vendor_result: str | None  # reviewers and managers only
    candidate: ContactSeen | None  # None for auditors (and for admins, who see no case)
    allowed_events: list[Event]


@dataclass(frozen=True, slots=True)
class SeenPage:
    items: list[CaseSeen]
    next_cursor: str | None  # pass as ``cursor`` for the next page


@dataclass(frozen=True, slots=True)
class HistoryItem:
    event: str
    from_state: str | None
    to_state: str | None
    actor_kind: str
    actor_id: str | None
    at: datetime
    mail: str | None = None  # for an e-mail: its template ("invitation"), else None


def seen(
    session: Session,
    ctx: CaseContext,
    actor: Actor,
    case: Case,
    now: datetime,
    *,
    contacts: Mapping[uuid.UUID, Contact] | None = None,
) -> CaseSeen:
    """``case`` as ``actor`` may see it. ``contacts``: a page's contacts, decrypted in one
    go (``Vault.contacts``); else this case's is read on its own."""
    candidate = None
    if case_service.may(session, ctx, actor, policy.Action.READ_CASE_CONTACT, case):
        found = contacts[case.id] if contacts is not None else ctx.vault.contact(session, case.id)
        candidate = ContactSeen(
            given_name=found.given_name,
            family_name=found.family_name,
            email=found.email,
            ssn_masked=f"***-**-{found.ssn_last4}" if found.ssn_last4 else None,
        )
    sees_result = policy.may(actor, policy.Action.READ_REPORT)
    return CaseSeen(
        id=case.id,
        department=case_service.department_code(session, case),
        position_title=case.position_title,
        package=case.package,
        state=case.state,
        version=case.version,
        created_at=case.created_at,
        updated_at=case.updated_at,
        assigned_to=case.assigned_to,
        invitation_expires_at=case.invitation_expires_at,
        adverse_deadline=case.adverse_deadline,
        ready_to_finalize=case.ready_to_finalize,
        open_dispute=case.open_dispute,
        vendor_status=case.vendor_status,
        vendor_result=case.vendor_result if sees_result else None,
        candidate=candidate,
        allowed_events=case_service.allowed(session, ctx, actor, case, now),
    )


def get(
    session: Session, ctx: CaseContext, actor: Actor, case_id: uuid.UUID, now: datetime
) -> tuple[Case, CaseSeen]:
    """The case (404 out of scope) and how the actor sees it."""
    case = case_service.get_visible(session, ctx, actor, case_id)
    return case, page(session, ctx, actor, [case], now)[0]


def page(
    session: Session, ctx: CaseContext, actor: Actor, cases: Sequence[Case], now: datetime
) -> list[CaseSeen]:
    """Many cases as the actor sees them: candidates and departments loaded in two
    queries, contacts decrypted in one (``queries.cases.preload``, ``Vault.contacts``)."""
    loaded = preload(session, cases)  # held while the cases are seen (see ``preload``)
    contacts = None
    if policy.granted(actor, policy.Action.READ_CASE_CONTACT):
        contacts = ctx.vault.contacts(session, [case.id for case in cases])
    views = [seen(session, ctx, actor, case, now, contacts=contacts) for case in cases]
    del loaded
    return views


def listing(
    session: Session,
    ctx: CaseContext,
    actor: Actor,
    filters: CaseFilter,
    *,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> SeenPage:
    """One page of the cases the actor may see (``queries.cases.list_cases``), as seen."""
    rows, next_cursor = list_cases(session, ctx.vault, actor, filters, limit=limit, cursor=cursor)
    return SeenPage(page(session, ctx, actor, rows, now), next_cursor)


def history(
    session: Session, ctx: CaseContext, actor: Actor, case_id: uuid.UUID, *, with_mail: bool = False
) -> list[HistoryItem]:
    """Every transition of a case the actor may see: event, from, to, who, when; with
    ``with_mail``, the e-mails about it too (event ``mail_sent`` or ``mail_failed``)."""
    case_service.get_visible(session, ctx, actor, case_id)
    return [
        HistoryItem(
            event=event.action.removeprefix("case.").replace(".", "_"),
            from_state=event.data.get("from"),
            to_state=event.data.get("to"),
            actor_kind=event.actor_kind,
            actor_id=event.actor_id,
            at=event.occurred_at,
            mail=event.data.get("template") if event.action.startswith("mail.") else None,
        )
        for event in list_case_history(session, case_id, with_mail=with_mail)
    ]


def reveal_pii(
    session: Session, ctx: CaseContext, actor: Actor, case_id: uuid.UUID
) -> dict[str, Any]:
    """The candidate's full PII, unmasked; each reveal is an audit event naming the fields
    shown (``pii.revealed``)."""
    case = case_service.get_visible(session, ctx, actor, case_id, action=policy.Action.REVEAL_PII)
    fields = ctx.vault.details(session, case.id)
    audit.record(
        session,
        actor.audit_actor,
        action="pii.revealed",
        target=audit.Target.of("case", case.id),
        data={"fields": sorted(name for name, value in fields.items() if value is not None)},
    )
    return fields


def notices(
    session: Session, ctx: CaseContext, actor: Actor, case_id: uuid.UUID, now: datetime
) -> list[dict[str, Any]]:
    """The adverse-action notices sent to the candidate; reading them is a CORI release,
    recorded in the dissemination log."""
    case = case_service.get_visible(session, ctx, actor, case_id, action=policy.Action.READ_REPORT)
    found = [
        notice
        for kind in (DocumentKind.PRE_ADVERSE_NOTICE, DocumentKind.FINAL_NOTICE)
        for notice in ctx.vault.documents(session, case.id, kind)
    ]
    if found:
        dissemination.record_staff_read(
            session, actor.audit_actor, case_id=case.id, what="notices", now=now
        )
    return found
