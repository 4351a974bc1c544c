"""Reading the audit trail for one object (a case's history)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from bgcheck.models import AuditEvent


def list_case_history(session: Session, case_id: uuid.UUID) -> Sequence[AuditEvent]:
    """The case's transitions, oldest first (one audit event each, by construction)."""
    return session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.target_type == "case",
            AuditEvent.target_id == str(case_id),
            col(AuditEvent.action).startswith("case."),
        )
        .order_by(col(AuditEvent.seq))
    ).all()
