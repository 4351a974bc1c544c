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
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from bgcheck import audit, policy
from bgcheck.audit import dissemination
from bgcheck.cases import links, notices
from bgcheck.cases.context import CaseContext as CaseContext
from bgcheck.cases.context import default_context as default_context
from bgcheck.identity.actors import Actor
from bgcheck.models import (
    Candidate,
    Case,
    Department,
    DocumentKind,
    LinkPurpose,
    OutboxJob,
    User,
    UserRole,
)
from bgcheck.platform.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from workflow import (
    FINAL_STATES,
    ActorView,
    CaseView,
    ConsentBody,
    CreateBody,
    Decision,
    DisputeBody,
    Effect,
    Event,
    ProposeAdverseBody,
    Refusal,
    Role,
    VendorAckBody,
    VendorCompleteBody,
    VerifyIdentityBody,
    allowed_events,
    decide,
    decide_create,
)

CANDIDATE = ActorView(id="candidate", email=None, roles=frozenset({Role.CANDIDATE}))
SYSTEM = ActorView(id="system", email=None, roles=frozenset({Role.SYSTEM}))
REVIEW_ROLES = frozenset({Role.REVIEWER, Role.MANAGER})
# Notice links stay readable at least this long: the final notice promises a free copy
# of the report within 60 days.
NOTICE_LINK_LIFETIME = timedelta(days=60)


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
    token = None
    payload = decision.payload
    now = decision.at
    for effect in decision.effects:
        match effect:
            case Effect.ISSUE_INVITATION:
                assert decision.invitation_expires_at is not None
                case.invitation_expires_at = decision.invitation_expires_at
                _, token = links.issue(
                    session,
                    case_id=case.id,
                    purpose=LinkPurpose.CONSENT,
                    now=now,
                    lifetime=decision.invitation_expires_at - now,
                )
            case Effect.RECORD_CONSENT:
                assert isinstance(payload, ConsentBody)
                _store_consent(session, ctx, case, payload)
                case.consent_at = now
                case.disclosure_version = payload.disclosure_version
            case Effect.RECORD_IDENTITY_VERIFICATION:
                assert isinstance(payload, VerifyIdentityBody)
                ctx.vault.add_document(
                    session,
                    case.id,
                    DocumentKind.IDENTITY,
                    {**payload.model_dump(mode="json"), "verified_by": str(actor_id)},
                )
                case.identity_verified_at = now
                case.identity_verified_by = actor_id
            case Effect.QUEUE_VENDOR_ORDER:
                _queue(session, case, "vendor_order", now)
            case Effect.RECORD_VENDOR_STATUS:
                assert isinstance(payload, VendorAckBody)
                case.vendor_reference = payload.vendor_reference or case.vendor_reference
                case.vendor_status = payload.vendor_status or "in_progress"
            case Effect.STORE_REPORT:
                assert isinstance(payload, VendorCompleteBody)
                case.vendor_reference = payload.vendor_reference or case.vendor_reference
                case.vendor_status = "complete"
                case.vendor_result = payload.result
            case Effect.RECORD_ASSIGNMENT:
                case.assigned_to = _reviewer(session, ctx, case, decision.assignee)
            case Effect.RECORD_ASSESSMENT:
                assert isinstance(payload, ProposeAdverseBody)
                ctx.vault.add_document(
                    session, case.id, DocumentKind.ASSESSMENT, payload.model_dump(mode="json")
                )
                case.proposed_by = actor_id
            case Effect.ISSUE_PRE_ADVERSE_NOTICE:
                token = _issue_notice(
                    session, ctx, case, DocumentKind.PRE_ADVERSE_NOTICE, decision, who
                )
            case Effect.START_WAITING_PERIOD:
                case.adverse_deadline = decision.adverse_deadline
                case.ready_to_finalize = False
            case Effect.WITHDRAW_PROPOSAL:
                case.proposed_by = None
                case.adverse_deadline = None
                case.ready_to_finalize = False
            case Effect.RECORD_DISPUTE:
                assert isinstance(payload, DisputeBody)
                ctx.vault.add_document(
                    session, case.id, DocumentKind.DISPUTE, payload.model_dump(mode="json")
                )
                case.open_dispute = True
            case Effect.REQUEST_REINVESTIGATION:
                _queue(session, case, "vendor_reinvestigation", now, per_change=True)
            case Effect.CLOSE_DISPUTE:
                case.open_dispute = False
            case Effect.ISSUE_FINAL_NOTICE:
                token = _issue_notice(session, ctx, case, DocumentKind.FINAL_NOTICE, decision, who)
            case Effect.CANCEL_VENDOR_ORDER:
                _queue(session, case, "vendor_cancel", now)
            case Effect.REVOKE_PORTAL_LINKS:
                links.revoke_all(session, case_id=case.id, now=now)
            case Effect.CLOSE_CASE:
                case.decided_at = now
    case.state = decision.to_state
    case.version += 1
    case.updated_at = now
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


def _store_consent(session: Session, ctx: CaseContext, case: Case, body: ConsentBody) -> None:
    details = body.model_dump(
        mode="json", exclude={"given_name", "family_name", "date_of_birth", "ssn"}
    )
    ctx.vault.store_details(
        session,
        ctx.vault.key(session, case.id),
        case.id,
        given_name=body.given_name,
        family_name=body.family_name,
        date_of_birth=body.date_of_birth,
        ssn=body.ssn,
        details=details,
    )


def _queue(
    session: Session, case: Case, kind: str, now: datetime, *, per_change: bool = False
) -> None:
    # The key doubles as the vendor's idempotency key: one order and one cancel per case;
    # a reinvestigation per dispute (``per_change``: keyed by the version it came from).
    key = f"{kind}:{case.id}:{case.version}" if per_change else f"{kind}:{case.id}"
    if session.exec(select(OutboxJob).where(OutboxJob.idempotency_key == key)).first() is None:
        session.add(
            OutboxJob(
                case_id=case.id, kind=kind, idempotency_key=key, created_at=now, available_at=now
            )
        )


def _reviewer(session: Session, ctx: CaseContext, case: Case, assignee: str | None) -> uuid.UUID:
    """A user id or email naming an active reviewer or manager who is not the candidate."""
    if not assignee:
        raise InvalidInput("assignee: required")
    try:
        user = session.get(User, uuid.UUID(assignee))
    except ValueError:
        user = session.exec(select(User).where(User.email == assignee.strip().lower())).first()
    roles = (
        set(session.exec(select(UserRole.role).where(UserRole.user_id == user.id)).all())
        if user
        else set()
    )
    if user is None or not user.is_active or not roles & REVIEW_ROLES:
        raise InvalidInput("assignee: not an active reviewer or manager")
    # The workflow sees no candidate email (see ``view``); the blind indexes do the check.
    if ctx.vault.actor_identity(user).same_person(scope(session, ctx, case).candidate):
        raise InvalidInput("assignee: the candidate of this case cannot review it")
    return user.id


def _issue_notice(
    session: Session,
    ctx: CaseContext,
    case: Case,
    kind: DocumentKind,
    decision: Decision,
    who: audit.AuditActor,
) -> str:
    """Store the notice (sealed), give the candidate a link to it, log the dissemination."""
    content = notices.render(session, ctx, case, kind, decision)
    ctx.vault.add_document(session, case.id, kind, content)
    dissemination.record(
        session,
        who,
        case_id=case.id,
        recipient="candidate",
        relationship="subject of the record",
        purpose=f"FCRA {kind.value.replace('_', ' ')} to the candidate",
        what=kind.value,
        now=decision.at,
    )
    lifetime = (decision.adverse_deadline or decision.at) - decision.at
    _, token = links.issue(
        session,
        case_id=case.id,
        purpose=LinkPurpose.NOTICE,
        now=decision.at,
        lifetime=max(lifetime, NOTICE_LINK_LIFETIME),
    )
    return token
