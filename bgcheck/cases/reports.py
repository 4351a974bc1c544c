"""Reading the vendor report: an audited release of CORI.

Every read is an audit event (``report.read``) and an entry in the CORI secondary
dissemination log, in the reader's transaction: a report shown is a report recorded.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bgcheck import audit, policy
from bgcheck.audit import dissemination
from bgcheck.cases import service as case_service
from bgcheck.cases.context import CaseContext
from bgcheck.identity.actors import Actor
from bgcheck.models import DocumentKind
from bgcheck.platform.errors import NotFound


def read_report(
    session: Session, ctx: CaseContext, actor: Actor, case_id: uuid.UUID, *, now: datetime
) -> dict[str, Any]:
    """The latest report of the case (a reinvestigation adds a newer one), with the
    individualized assessments and the candidate's dispute statements; audited.

    Raises ``NotFound`` when the case is out of the actor's reach or has no report yet,
    ``Forbidden`` for a role that never reads reports.
    """
    case = case_service.get_visible(session, ctx, actor, case_id, action=policy.Action.READ_REPORT)
    reports = ctx.vault.documents(session, case.id, DocumentKind.REPORT)
    if not reports:
        raise NotFound("this case has no report yet")
    audit.record(
        session,
        actor.audit_actor,
        action="report.read",
        target=audit.Target.of("case", case.id),
        data={"versions": len(reports)},
        now=now,
    )
    dissemination.record_staff_read(
        session, actor.audit_actor, case_id=case.id, what="report", now=now
    )
    return {
        **reports[-1],
        "versions": len(reports),
        # What adjudication weighs beside the report: the proposal a manager approves, the
        # statements a reviewer resolves. Shown with the report, under the same record.
        "assessments": ctx.vault.documents(session, case.id, DocumentKind.ASSESSMENT),
        "disputes": ctx.vault.documents(session, case.id, DocumentKind.DISPUTE),
    }
