"""Four eyes on the changes that open PII: one administrator proposes, a manager approves.

Granting a role that reads PII (``policy.PII_ROLES``) and resetting someone's second
factor are proposed by an administrator and take effect only when a manager other than
the proposer (and other than the person concerned) approves. Until then the proposal
does nothing. Both steps are audit events.

The command line and the demo act as the operator of the installation (who holds the
keyring and the database anyway): their changes apply at once. See docs/identity.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Final

from sqlmodel import Session, col, select

from bgcheck import audit, policy
from bgcheck.identity.actors import Actor
from bgcheck.models import Approval, ApprovalKind, ApprovalStatus
from bgcheck.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from workflow import Role


def propose_role(
    session: Session, proposer: audit.AuditActor, *, user_id: uuid.UUID, role: Role, now: datetime
) -> Approval:
    """A pending grant of ``role`` (one that reads PII); the same pending one if it exists."""
    pending = _pending(session, user_id, ApprovalKind.GRANT_ROLE, role)
    if pending is not None:
        return pending
    return _propose(session, proposer, ApprovalKind.GRANT_ROLE, user_id, role, now)


def propose_mfa_reset(
    session: Session, proposer: Actor, *, user_id: uuid.UUID, now: datetime
) -> Approval:
    """A pending reset of ``user_id``'s second factor (they enroll again at sign-in)."""
    if proposer.user_id == user_id:
        raise Forbidden("you cannot reset your own second factor; ask another administrator")
    pending = _pending(session, user_id, ApprovalKind.RESET_MFA, None)
    if pending is not None:
        return pending
    return _propose(session, proposer.audit_actor, ApprovalKind.RESET_MFA, user_id, None, now)


def withdraw_roles(
    session: Session, who: audit.AuditActor, *, user_id: uuid.UUID, keep: frozenset[Role]
) -> None:
    """Withdraw the pending grants to ``user_id`` of roles no longer asked for."""
    for approval in pending(session, user_id=user_id):
        if approval.kind is ApprovalKind.GRANT_ROLE and approval.role not in keep:
            approval.status = ApprovalStatus.WITHDRAWN
            session.add(approval)
            _record(session, who, approval, action="approval.withdrawn")


def pending(session: Session, *, user_id: uuid.UUID | None = None) -> Sequence[Approval]:
    statement = select(Approval).where(Approval.status == ApprovalStatus.PENDING)
    if user_id is not None:
        statement = statement.where(Approval.user_id == user_id)
    return session.exec(statement.order_by(col(Approval.proposed_at))).all()


def pending_roles(session: Session, user_id: uuid.UUID) -> frozenset[Role]:
    return frozenset(
        approval.role
        for approval in pending(session, user_id=user_id)
        if approval.kind is ApprovalKind.GRANT_ROLE and approval.role is not None
    )


def approve(
    session: Session, approver: Actor, approval_id: uuid.UUID, *, now: datetime
) -> Approval:
    """Apply a pending change, as a manager who neither proposed it nor is concerned by it."""
    approval = _decidable(session, approver, approval_id)
    APPLY[approval.kind](session, approver, approval, now)
    _decide(session, approver, approval, ApprovalStatus.APPROVED, None, now)
    _record(session, approver.audit_actor, approval, action="approval.approved")
    return approval


def reject(
    session: Session, approver: Actor, approval_id: uuid.UUID, *, reason: str, now: datetime
) -> Approval:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason: say why the change is rejected")
    approval = _decidable(session, approver, approval_id)
    _decide(session, approver, approval, ApprovalStatus.REJECTED, reason, now)
    _record(session, approver.audit_actor, approval, action="approval.rejected")
    return approval


def _grant_role(session: Session, approver: Actor, approval: Approval, now: datetime) -> None:
    # Imported here: the user service proposes through this module (a cycle otherwise).
    from bgcheck.identity import users as user_service

    assert approval.role is not None
    details = user_service.get_details(session, approval.user_id)
    if not details.user.is_active:
        raise Conflict("this account is disabled; enable it before granting it a role")
    user_service.apply_roles(
        session, approver.audit_actor, details, details.roles | {approval.role}
    )


def _reset_mfa(session: Session, approver: Actor, approval: Approval, now: datetime) -> None:
    from bgcheck.identity import mfa

    mfa.reset(session, approver.audit_actor, user_id=approval.user_id, now=now)


# What approving each kind does; every kind has a handler (checked below, at import).
APPLY: Final[Mapping[ApprovalKind, Callable[[Session, Actor, Approval, datetime], None]]] = {
    ApprovalKind.GRANT_ROLE: _grant_role,
    ApprovalKind.RESET_MFA: _reset_mfa,
}
if missing := set(ApprovalKind) - APPLY.keys():
    raise TypeError(f"approval kinds without a handler: {sorted(missing)}")


def _propose(
    session: Session,
    proposer: audit.AuditActor,
    kind: ApprovalKind,
    user_id: uuid.UUID,
    role: Role | None,
    now: datetime,
) -> Approval:
    approval = Approval(
        kind=kind,
        user_id=user_id,
        role=role,
        proposed_by=uuid.UUID(proposer.id) if proposer.kind == "user" and proposer.id else None,
        proposed_at=now,
    )
    session.add(approval)
    session.flush()
    _record(session, proposer, approval, action="approval.proposed")
    return approval


def _pending(
    session: Session, user_id: uuid.UUID, kind: ApprovalKind, role: Role | None
) -> Approval | None:
    return next(
        (a for a in pending(session, user_id=user_id) if a.kind is kind and a.role == role),
        None,
    )


def _decidable(session: Session, approver: Actor, approval_id: uuid.UUID) -> Approval:
    policy.require(approver, policy.Action.APPROVE_ACCESS)
    approval = session.get(Approval, approval_id, with_for_update=True)
    if approval is None:
        raise NotFound("no such approval")
    if approval.status is not ApprovalStatus.PENDING:
        raise Conflict(f"this change was already {approval.status.value}")
    if approval.proposed_by == approver.user_id:
        raise Forbidden("you proposed this change; another manager must decide it")
    if approval.user_id == approver.user_id:
        raise Forbidden("this change is about you; another manager must decide it")
    return approval


def _decide(
    session: Session,
    approver: Actor,
    approval: Approval,
    status: ApprovalStatus,
    reason: str | None,
    now: datetime,
) -> None:
    approval.status = status
    approval.decided_by = approver.user_id
    approval.decided_at = now
    approval.reason = reason
    session.add(approval)
    session.flush()


def _record(session: Session, who: audit.AuditActor, approval: Approval, *, action: str) -> None:
    audit.record(
        session,
        who,
        action=action,
        target=audit.Target.of("user", approval.user_id),
        data={
            "approval": str(approval.id),
            "kind": approval.kind.value,
            "role": approval.role.value if approval.role else None,
        },
    )
