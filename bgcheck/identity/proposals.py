"""Proposed changes that open PII, waiting for a manager: propose, list, withdraw.

Granting a role that reads PII (``policy.PII_ROLES``) and resetting someone's second
factor are proposed here and take effect only when a manager approves them
(``approvals``). Every step is an audit event. See docs/identity.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.identity.actors import Actor
from bgcheck.models import Approval, ApprovalKind, ApprovalStatus
from bgcheck.platform.errors import Forbidden
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
            record(session, who, approval, action="approval.withdrawn")


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
    record(session, proposer, approval, action="approval.proposed")
    return approval


def _pending(
    session: Session, user_id: uuid.UUID, kind: ApprovalKind, role: Role | None
) -> Approval | None:
    return next(
        (a for a in pending(session, user_id=user_id) if a.kind is kind and a.role == role),
        None,
    )


def record(session: Session, who: audit.AuditActor, approval: Approval, *, action: str) -> None:
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
