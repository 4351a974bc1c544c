"""Each effect of a decision applied to a case row, in the caller's transaction.

Every ``Effect`` first gets the field changes ``workflow.effects.CHANGES`` gives it (the
same ones ``evolve`` predicts), then either its handler in ``HANDLERS`` (links, the vault,
the outbox, notices: anything beyond setting fields) or only the row's own fields in
``FIELDS_ONLY``. ``check_handlers`` runs on import: an effect in neither table, or in
both, stops the program before it serves a request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Session, select

from bgcheck import audit
from bgcheck.audit import dissemination
from bgcheck.cases import links, mailings, notices
from bgcheck.cases.context import CaseContext
from bgcheck.models import (
    Candidate,
    Case,
    DocumentKind,
    JobKind,
    LinkPurpose,
    OutboxJob,
    User,
    UserRole,
)
from bgcheck.platform.errors import InvalidInput
from workflow import (
    ConsentBody,
    Decision,
    DisputeBody,
    Effect,
    ProposeAdverseBody,
    Role,
    VendorAckBody,
    VendorCompleteBody,
    VerifyIdentityBody,
)
from workflow.effects import CHANGES, FieldChanges, From, values

REVIEW_ROLES = frozenset({Role.REVIEWER, Role.MANAGER})
# Notice links stay readable at least this long: the final notice promises a free copy
# of the report within 60 days.
NOTICE_LINK_LIFETIME = timedelta(days=60)


@dataclass(slots=True)
class Step:
    """One effect being applied: a handler may do I/O and may resolve a value in ``changes``."""

    session: Session
    ctx: CaseContext
    case: Case
    decision: Decision
    who: audit.AuditActor
    actor_id: uuid.UUID | None
    changes: dict[str, Any] = field(default_factory=dict)


# A handler returns the portal token when it issues a link, else None.
Handler = Callable[[Step], str | None]


def _issue_invitation(step: Step) -> str | None:
    expires, now = step.decision.invitation_expires_at, step.decision.at
    assert expires is not None
    link, token = links.issue(
        step.session,
        case_id=step.case.id,
        purpose=LinkPurpose.CONSENT,
        now=now,
        lifetime=expires - now,
    )
    # The e-mail carries the same link HR sees; its token is sealed in the job row.
    mailings.queue_link(
        step.session, step.ctx, case_id=step.case.id, template=mailings.INVITATION,
        link_id=link.id, token=token, now=now,
    )  # fmt: skip
    return token


def _record_consent(step: Step) -> None:
    body, vault = step.decision.payload, step.ctx.vault
    assert isinstance(body, ConsentBody)
    details = body.model_dump(
        mode="json", exclude={"given_name", "family_name", "date_of_birth", "ssn"}
    )
    vault.store_details(
        step.session,
        vault.key(step.session, step.case.id),
        step.case.id,
        given_name=body.given_name,
        family_name=body.family_name,
        date_of_birth=body.date_of_birth,
        ssn=body.ssn,
        details=details,
    )
    step.changes["disclosure_version"] = body.disclosure_version


def _record_identity_verification(step: Step) -> None:
    body = step.decision.payload
    assert isinstance(body, VerifyIdentityBody)
    step.ctx.vault.add_document(
        step.session,
        step.case.id,
        DocumentKind.IDENTITY,
        {**body.model_dump(mode="json"), "verified_by": str(step.actor_id)},
    )
    step.changes["identity_verified_by"] = step.actor_id


def _queue(kind: JobKind, *, per_change: bool = False) -> Handler:
    def queue(step: Step) -> None:
        # The key doubles as the vendor's idempotency key: one order and one cancel per
        # case; a reinvestigation per dispute (``per_change``: keyed by the version it
        # came from).
        case, now = step.case, step.decision.at
        key = f"{kind}:{case.id}:{case.version}" if per_change else f"{kind}:{case.id}"
        exists = step.session.exec(select(OutboxJob).where(OutboxJob.idempotency_key == key))
        if exists.first() is None:
            step.session.add(
                OutboxJob(
                    case_id=case.id,
                    kind=kind,
                    idempotency_key=key,
                    created_at=now,
                    available_at=now,
                )
            )

    return queue


def _record_vendor_status(step: Step) -> None:
    body = step.decision.payload
    assert isinstance(body, VendorAckBody)
    step.changes["vendor_reference"] = body.vendor_reference or step.case.vendor_reference
    step.changes["vendor_status"] = body.vendor_status or "in_progress"


def _store_report(step: Step) -> None:
    body = step.decision.payload
    assert isinstance(body, VendorCompleteBody)
    step.changes["vendor_reference"] = body.vendor_reference or step.case.vendor_reference
    step.changes["vendor_status"] = "complete"
    step.changes["vendor_result"] = body.result


def _record_assignment(step: Step) -> None:
    """Resolve ``Decision.assignee`` (a user id or email) to an eligible reviewer."""
    step.changes["assigned_to"] = _reviewer(step, step.decision.assignee)


def _reviewer(step: Step, assignee: str | None) -> uuid.UUID:
    """A user id or email naming an active reviewer or manager who is not the candidate."""
    session, ctx = step.session, step.ctx
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
    # The workflow sees no candidate email (see ``service.view``); the blind indexes check.
    candidate = ctx.vault.candidate_identity(session.get(Candidate, step.case.id))
    if ctx.vault.actor_identity(user).same_person(candidate):
        raise InvalidInput("assignee: the candidate of this case cannot review it")
    return user.id


def _record_assessment(step: Step) -> None:
    body = step.decision.payload
    assert isinstance(body, ProposeAdverseBody)
    step.ctx.vault.add_document(
        step.session, step.case.id, DocumentKind.ASSESSMENT, body.model_dump(mode="json")
    )


def _record_dispute(step: Step) -> None:
    body = step.decision.payload
    assert isinstance(body, DisputeBody)
    step.ctx.vault.add_document(
        step.session, step.case.id, DocumentKind.DISPUTE, body.model_dump(mode="json")
    )
    # The candidate is told it arrived (never what it says); one per dispute.
    mailings.queue_dispute_received(
        step.session,
        step.ctx,
        case_id=step.case.id,
        version=step.case.version,
        now=step.decision.at,
    )


def _notice(kind: DocumentKind, template: str) -> Handler:
    def issue(step: Step) -> str:
        """Store the notice (sealed), give the candidate a link to it, log the dissemination."""
        session, case, decision = step.session, step.case, step.decision
        content = notices.render(session, step.ctx, case, kind, decision)
        step.ctx.vault.add_document(session, case.id, kind, content)
        dissemination.record(
            session,
            step.who,
            case_id=case.id,
            recipient="candidate",
            relationship="subject of the record",
            purpose=f"FCRA {kind.value.replace('_', ' ')} to the candidate",
            what=kind.value,
            now=decision.at,
        )
        lifetime = (decision.adverse_deadline or decision.at) - decision.at
        link, token = links.issue(
            session,
            case_id=case.id,
            purpose=LinkPurpose.NOTICE,
            now=decision.at,
            lifetime=max(lifetime, NOTICE_LINK_LIFETIME),
        )
        # The e-mail carries the link the page shows; its token is sealed in the job row.
        mailings.queue_link(
            session,
            step.ctx,
            case_id=case.id,
            template=template,
            link_id=link.id,
            token=token,
            now=decision.at,
        )
        return token

    return issue


def _announce_completion(step: Step) -> None:
    mailings.queue_check_complete(
        step.session, step.ctx, case_id=step.case.id, now=step.decision.at
    )


def _revoke_portal_links(step: Step) -> None:
    links.revoke_all(step.session, case_id=step.case.id, now=step.decision.at)


HANDLERS: Final[Mapping[Effect, Handler]] = MappingProxyType(
    {
        Effect.ISSUE_INVITATION: _issue_invitation,
        Effect.RECORD_CONSENT: _record_consent,
        Effect.RECORD_IDENTITY_VERIFICATION: _record_identity_verification,
        Effect.QUEUE_VENDOR_ORDER: _queue(JobKind.VENDOR_ORDER),
        Effect.RECORD_VENDOR_STATUS: _record_vendor_status,
        Effect.STORE_REPORT: _store_report,
        Effect.RECORD_ASSIGNMENT: _record_assignment,
        Effect.RECORD_ASSESSMENT: _record_assessment,
        Effect.ISSUE_PRE_ADVERSE_NOTICE: _notice(
            DocumentKind.PRE_ADVERSE_NOTICE, mailings.PRE_ADVERSE_NOTICE
        ),
        Effect.RECORD_DISPUTE: _record_dispute,
        Effect.REQUEST_REINVESTIGATION: _queue(JobKind.VENDOR_REINVESTIGATION, per_change=True),
        Effect.ISSUE_FINAL_NOTICE: _notice(DocumentKind.FINAL_NOTICE, mailings.FINAL_NOTICE),
        Effect.CANCEL_VENDOR_ORDER: _queue(JobKind.VENDOR_CANCEL),
        Effect.REVOKE_PORTAL_LINKS: _revoke_portal_links,
        Effect.ANNOUNCE_COMPLETION: _announce_completion,
    }
)

# Effects that only set fields: the row's own columns, beyond ``workflow.effects.CHANGES``.
FIELDS_ONLY: Final[Mapping[Effect, FieldChanges]] = MappingProxyType(
    {
        Effect.START_WAITING_PERIOD: {"ready_to_finalize": False},
        Effect.WITHDRAW_PROPOSAL: {"ready_to_finalize": False},
        Effect.CLOSE_DISPUTE: {},
        Effect.CLOSE_CASE: {"decided_at": From("at")},
    }
)


def check_handlers(
    handlers: Mapping[Effect, Handler] = HANDLERS,
    fields_only: Mapping[Effect, FieldChanges] = FIELDS_ONLY,
) -> None:
    """Raise ``TypeError`` unless every effect is in exactly one table and names columns."""
    if missing := set(Effect) - handlers.keys() - fields_only.keys():
        raise TypeError(f"effects with neither a handler nor FIELDS_ONLY: {sorted(missing)}")
    if both := handlers.keys() & fields_only.keys():
        raise TypeError(f"effects with a handler and in FIELDS_ONLY: {sorted(both)}")
    columns = set(Case.model_fields)
    for effect in Effect:
        named = set(CHANGES[effect]) | set(fields_only.get(effect, {}))
        if unknown := named - columns:
            raise TypeError(f"{effect} changes fields the case row lacks: {sorted(unknown)}")


check_handlers()


def apply(
    session: Session,
    ctx: CaseContext,
    case: Case,
    decision: Decision,
    who: audit.AuditActor,
    *,
    actor_id: uuid.UUID | None,
) -> str | None:
    """Apply each effect of ``decision`` to ``case``, in order; the portal token if one issued."""
    token = None
    for effect in decision.effects:
        spec = CHANGES[effect]
        changes = values(spec, decision) | values(FIELDS_ONLY.get(effect, {}), decision)
        step = Step(session, ctx, case, decision, who, actor_id, changes)
        if handler := HANDLERS.get(effect):
            token = handler(step) or token
        for name, value in step.changes.items():
            setattr(case, name, _column_value(name, value))
    return token


# The workflow names users by their id as a string; the row holds a UUID.
_UUID_COLUMNS: Final = frozenset(
    column.key for column in sa.inspect(Case).columns if isinstance(column.type, sa.Uuid)
)


def _column_value(name: str, value: object) -> object:
    return uuid.UUID(value) if isinstance(value, str) and name in _UUID_COLUMNS else value
