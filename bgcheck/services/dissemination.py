"""The CORI secondary dissemination log: every release of criminal-record information.

Called wherever a report or a notice quoting it reaches someone: a notice issued to the
candidate, a reviewer opening the report or the notices. Each entry is also an audit
event, so the log is as tamper-evident as the trail.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from bgcheck import audit
from bgcheck.models import Dissemination


def record(
    session: Session,
    released_by: audit.AuditActor,
    *,
    case_id: uuid.UUID,
    recipient: str,
    relationship: str,
    purpose: str,
    what: str,
    now: datetime,
) -> Dissemination:
    entry = Dissemination(
        case_id=case_id,
        released_at=now,
        recipient=recipient,
        relationship=relationship,
        purpose=purpose,
        released_by=released_by.id or released_by.kind,
        what=what,
    )
    session.add(entry)
    audit.record(
        session,
        released_by,
        action="cori.disseminated",
        target=audit.Target.of("case", case_id),
        data={"recipient": recipient, "relationship": relationship, "what": what},
        now=now,
    )
    return entry
