"""The case lifecycle applied: decisions of ``workflow`` turned into rows, atomically.

``create_case`` and ``fire`` ask the workflow for a decision, then apply it in the
caller's transaction: the state and the facts the guards read, the sealed PII and
documents, candidate links, outbox jobs and exactly one audit event. Nothing here
commits; if anything fails the whole change is rolled back with the transaction.

Concurrency: ``fire`` locks the case row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
writers are serialized by ``BEGIN IMMEDIATE``) and checks the version the caller saw
(``If-Match``), so of two reviewers clicking at once one wins and the other gets a
conflict, never a lost update.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from bgcheck import audit, policy
from bgcheck.cases import effects, links
from bgcheck.cases.context import CaseContext as CaseContext
from bgcheck.cases.context import default_context as default_context
from bgcheck.identity.actors import Actor
from bgcheck.models import (
    Candidate,
    Case,
    Department,
    LinkPurpose,
)
from bgcheck.platform.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from workflow import (
    FINAL_STATES,
    ActorView,
    CaseView,
    CreateBody,
    Decision,
    Event,
    Refusal,
    Role,
    allowed_events,
    decide,
    decide_create,
)

CANDIDATE = ActorView(id="candidate", email=None, roles=frozenset({Role.CANDIDATE}))
SYSTEM = ActorView(id="system", email=None, roles=frozenset({Role.SYSTEM}))


class Refused(Conflict):
    """The workflow said no; ``code`` tells the API which status fits."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.code = refusal.code
        self.errors = refusal.errors


@dataclass(frozen=True, slots=True)
class Outcome:
    """A case after a change, and the portal token when the change issued a link."""

    case: Case
    portal_token: str | None = None


# -- reading -------------------------------------------------------------------------------


def department_code(session: Session, case: Case) -> str:
    department = session.get(Department, case.department_id)
    assert department is not None
    return department.code


# What the workflow sees as the candidate's email when it is not the caller's own: not an
# address anyone can have (it has spaces), so it never equals an actor's email.
SOMEONE_ELSE = "<another person>"


def view(session: Session, ctx: CaseContext, case: Case, *, actor: Actor | None) -> CaseView:
    """What the workflow may know of ``case``, for one actor, without decrypting anything.

    The guards use the candidate's email only to ask "is one set?" and "is it the actor's
    own?". The blind indexes answer both (``policy.Identity``: the email, its mailbox, and
    the SSN and name + date of birth when both sides have them): the actor's own email
    when they are the same person, else a stand-in that matches nobody.
    """
    candidate = session.get(Candidate, case.id)
    email = None
    if candidate is not None and candidate.email_index is not None:
        same = actor is not None and ctx.vault.actor_identity(actor).same_person(
            ctx.vault.candidate_identity(candidate)
        )
        email = actor.email if same and actor is not None else SOMEONE_ELSE
    return CaseView(
        state=case.state,
        department=department_code(session, case),
        candidate_email=email,
        invitation_expires_at=case.invitation_expires_at,
        consent_at=case.consent_at,
        identity_verified_at=case.identity_verified_at,
        assigned_to=str(case.assigned_to) if case.assigned_to else None,
        proposed_by=str(case.proposed_by) if case.proposed_by else None,
        adverse_deadline=case.adverse_deadline,
        open_dispute=case.open_dispute,
    )


def scope(session: Session, ctx: CaseContext, case: Case) -> policy.CaseScope:
    return policy.CaseScope(
        department_id=case.department_id,
        candidate=ctx.vault.candidate_identity(session.get(Candidate, case.id)),
    )


def may(
    session: Session, ctx: CaseContext, actor: Actor, action: policy.Action, case: Case
) -> bool:
    """``policy.may`` on a case, with the case's scope and the actor's identity."""
    return policy.may(
        actor, action, scope(session, ctx, case), identity=ctx.vault.actor_identity(actor)
    )


def get_visible(
    session: Session,
    ctx: CaseContext,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    action: policy.Action = policy.Action.READ_CASE,
    for_update: bool = False,
) -> Case:
    """The case if ``actor`` may reach it for ``action``; "not found" otherwise."""
    statement = select(Case).where(Case.id == case_id)
    if for_update:
        statement = statement.with_for_update()
    case = session.exec(statement).first()
    if case is None:
        raise NotFound("no such case")
    policy.require_case(
        actor, action, scope(session, ctx, case), identity=ctx.vault.actor_identity(actor)
    )
    return case


def allowed(
    session: Session, ctx: CaseContext, actor: Actor, case: Case, now: datetime
) -> list[Event]:
    if case.state in FINAL_STATES:
        return []  # nothing leaves a final state
    case_view = view(session, ctx, case, actor=actor)
    return allowed_events(case_view, actor.view(), now, rules=ctx.rules)


# -- changing ------------------------------------------------------------------------------


def create_case(
    session: Session, ctx: CaseContext, actor: Actor, *, body: dict[str, Any], now: datetime
) -> Case:
    """HR's request: a new case in ``draft`` for one of the actor's departments."""
    decision = _decided(decide_create(actor.view(), body, now, rules=ctx.rules))
    assert isinstance(decision.payload, CreateBody)
    request = decision.payload
    department = session.exec(
        select(Department).where(Department.code == request.department.strip().upper())
    ).first()
    if department is None or department.id not in actor.department_ids:
        # An unknown department and someone else's look the same.
        raise InvalidInput("department: not one of your departments")
    case = Case(
        department_id=department.id,
        position_title=request.position_title,
        package=request.package,
        state=decision.to_state,
        created_by=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    dek = ctx.vault.create_key(session, case.id)
    ctx.vault.store_contact(
        session,
        dek,
        case.id,
        given_name=request.candidate.given_name,
        family_name=request.candidate.family_name,
        email=request.candidate.email,
    )
    _record(session, actor.audit_actor, case, decision)
    return case


def fire(
    session: Session,
    ctx: CaseContext,
    actor: Actor,
    *,
    case_id: uuid.UUID,
    event: Event,
    body: dict[str, Any],
    expected_version: int | None,
    now: datetime,
) -> Outcome:
    """A staff member fires ``event`` on a case they can see."""
    case = get_visible(session, ctx, actor, case_id, for_update=True)
    _check_version(case, expected_version)
    decision = _decided(
        decide(
            view(session, ctx, case, actor=actor),
            event,
            actor.view(),
            body,
            now,
            rules=ctx.rules,
        )
    )
    return _apply(session, ctx, case, decision, actor.audit_actor, actor_id=actor.user_id)


def fire_as_system(
    session: Session,
    ctx: CaseContext,
    *,
    case_id: uuid.UUID,
    event: Event,
    body: dict[str, Any],
    now: datetime,
    who: audit.AuditActor | None = None,
    as_role: Role = Role.SYSTEM,
) -> Outcome:
    """The scheduler, the vendor adapter or a test fires an event that no staff member does."""
    case = session.exec(select(Case).where(Case.id == case_id).with_for_update()).first()
    if case is None:
        raise NotFound("no such case")
    acting = ActorView(id=as_role.value, email=None, roles=frozenset({as_role}))
    decision = _decided(
        decide(view(session, ctx, case, actor=None), event, acting, body, now, rules=ctx.rules)
    )
    return _apply(session, ctx, case, decision, who or audit.AuditActor.system(), actor_id=None)


def fire_as_candidate(
    session: Session,
    ctx: CaseContext,
    *,
    token: str,
    event: Event,
    body: dict[str, Any],
    now: datetime,
) -> Outcome:
    """The candidate, through their portal link: consent, or dispute."""
    link = links.resolve(session, token, now=now)
    purpose = LinkPurpose.CONSENT if event is Event.CONSENT else LinkPurpose.NOTICE
    if link.purpose is not purpose:
        raise NotFound(links.INVALID)
    # Used up first: a second submission is "not found" whatever the case's state. If the
    # event is refused, the rollback gives the link back.
    links.consume(session, link, now=now)
    case = session.exec(select(Case).where(Case.id == link.case_id).with_for_update()).one()
    decision = _decided(
        decide(view(session, ctx, case, actor=None), event, CANDIDATE, body, now, rules=ctx.rules)
    )
    return _apply(
        session, ctx, case, decision, audit.AuditActor("candidate", str(case.id)), actor_id=None
    )


def _decided(result: Decision | Refusal) -> Decision:
    if isinstance(result, Refusal):
        raise Refused(result)
    return result


def _check_version(case: Case, expected: int | None) -> None:
    if expected is not None and expected != case.version:
        raise PreconditionFailed(
            f"the case changed since you loaded it (version {case.version}, not {expected}); "
            "reload it and try again"
        )


def _apply(
    session: Session,
    ctx: CaseContext,
    case: Case,
    decision: Decision,
    who: audit.AuditActor,
    *,
    actor_id: uuid.UUID | None,
) -> Outcome:
    token = effects.apply(session, ctx, case, decision, who, actor_id=actor_id)
    case.state = decision.to_state
    case.version += 1
    case.updated_at = decision.at
    session.add(case)
    session.flush()
    _record(session, who, case, decision)
    return Outcome(case, token)


def _record(session: Session, who: audit.AuditActor, case: Case, decision: Decision) -> None:
    audit.record(
        session,
        who,
        action=f"case.{decision.event.value}",
        target=audit.Target.of("case", case.id),
        data=dict(decision.audit_data),
        now=decision.at,
    )
