"""Reading the audit trail for one object (a case's history)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from bgcheck.models import AuditEvent


def list_case_history(
    session: Session, case_id: uuid.UUID, *, with_mail: bool = False
) -> Sequence[AuditEvent]:
    """The case's transitions, oldest first (one audit event each, by construction), and
    with ``with_mail`` the e-mails sent about it or given up on (``mail.sent``/``failed``)."""
    action = col(AuditEvent.action)
    kinds = action.startswith("case.")
    if with_mail:
        kinds = kinds | action.in_(("mail.sent", "mail.failed"))
    return session.exec(
        select(AuditEvent)
        .where(AuditEvent.target_type == "case", AuditEvent.target_id == str(case_id), kinds)
        .order_by(col(AuditEvent.seq))
    ).all()
