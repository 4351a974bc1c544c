"""Four eyes on the changes that open PII: a manager approves or rejects a proposal.

A change proposed through ``proposals`` (a role that reads PII, a second-factor reset)
takes effect only when a manager other than the proposer (and other than the person
concerned) approves it here. Until then it does nothing. Both steps are audit events.

The command line and the demo act as the operator of the installation (who holds the
keyring and the database anyway): their changes apply at once. See docs/identity.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final

from sqlmodel import Session

from bgcheck import policy
from bgcheck.identity import mfa, proposals
from bgcheck.identity import users as user_service
from bgcheck.identity.actors import Actor
from bgcheck.models import Approval, ApprovalKind, ApprovalStatus
from bgcheck.platform.errors import Conflict, Forbidden, InvalidInput, NotFound


def approve(
    session: Session, approver: Actor, approval_id: uuid.UUID, *, now: datetime
) -> Approval:
    """Apply a pending change, as a manager who neither proposed it nor is concerned by it."""
    approval = _decidable(session, approver, approval_id)
    APPLY[approval.kind](session, approver, approval, now)
    _decide(session, approver, approval, ApprovalStatus.APPROVED, None, now)
    proposals.record(session, approver.audit_actor, approval, action="approval.approved")
    return approval


def reject(
    session: Session, approver: Actor, approval_id: uuid.UUID, *, reason: str, now: datetime
) -> Approval:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason: say why the change is rejected")
    approval = _decidable(session, approver, approval_id)
    _decide(session, approver, approval, ApprovalStatus.REJECTED, reason, now)
    proposals.record(session, approver.audit_actor, approval, action="approval.rejected")
    return approval


def _grant_role(session: Session, approver: Actor, approval: Approval, now: datetime) -> None:
    assert approval.role is not None
    details = user_service.get_details(session, approval.user_id)
    if not details.user.is_active:
        raise Conflict("this account is disabled; enable it before granting it a role")
    user_service.apply_roles(
        session, approver.audit_actor, details, details.roles | {approval.role}
    )


def _reset_mfa(session: Session, approver: Actor, approval: Approval, now: datetime) -> None:
    mfa.reset(session, approver.audit_actor, user_id=approval.user_id, now=now)


# What approving each kind does; every kind has a handler (checked below, at import).
APPLY: Final[Mapping[ApprovalKind, Callable[[Session, Actor, Approval, datetime], None]]] = {
    ApprovalKind.GRANT_ROLE: _grant_role,
    ApprovalKind.RESET_MFA: _reset_mfa,
}
if missing := set(ApprovalKind) - APPLY.keys():
    raise TypeError(f"approval kinds without a handler: {sorted(missing)}")


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
