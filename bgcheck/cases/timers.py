"""The scheduler's sweep: invitations that ran out, reminders of unanswered ones, and
waiting periods that are over.

Run by the worker every minute (and by the embedded worker inside ``serve``). Deadlines
were stored when they were set (``invitation_expires_at``, ``adverse_deadline``); the
sweep compares them with the clock and never recomputes them. Each case is handled in a
savepoint, so one bad case cannot hold back the others. With several workers on
PostgreSQL, ``SKIP LOCKED`` hands each case to one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.cases import mailings
from bgcheck.cases import service as case_service
from bgcheck.cases.context import CaseContext
from bgcheck.models import CandidateLink, Case, LinkPurpose, utcnow
from bgcheck.platform.logs import get_logger
from workflow import Event, State

log = get_logger(__name__)
SWEEPER = audit.AuditActor.system("scheduler")
BATCH = 200


@dataclass(frozen=True, slots=True)
class SweepResult:
    expired: int
    due: int
    reminded: int = 0


def sweep(session: Session, ctx: CaseContext, now: datetime) -> SweepResult:
    expired = 0
    for case in _locked(
        session, col(Case.state) == State.AWAITING_CONSENT, col(Case.invitation_expires_at) <= now
    ):
        try:
            with session.begin_nested():
                case_service.fire_as_system(
                    session,
                    ctx,
                    case_id=case.id,
                    event=Event.EXPIRE,
                    body={},
                    now=now,
                    who=SWEEPER,
                )
            expired += 1
        except case_service.Refused as refusal:
            log.warning("could not expire a case", case_id=str(case.id), code=refusal.code.value)
    due = 0
    for case in _locked(
        session,
        col(Case.state) == State.PRE_ADVERSE_NOTICE,
        col(Case.adverse_deadline) <= now,
        col(Case.ready_to_finalize).is_(False),
    ):
        case.ready_to_finalize = True
        case.version += 1
        case.updated_at = now
        session.add(case)
        audit.record(
            session,
            SWEEPER,
            action="case.ready_to_finalize",
            target=audit.Target.of("case", case.id),
            data={"open_dispute": case.open_dispute},
            now=now,
        )
        due += 1
    session.flush()
    return SweepResult(expired=expired, due=due, reminded=remind(session, ctx, now))


def remind(session: Session, ctx: CaseContext, now: datetime) -> int:
    """Queue the reminders that live invitation links are due (docs/notifications.md).

    Only cases whose open consent link is inside a reminder window are read; each queues
    at most one reminder of each kind per link (``mailings.queue_reminder``).
    """
    after = ctx.settings.reminder_after_days
    before = ctx.settings.reminder_before_expiry_days
    windows = []
    if after:
        windows.append(col(CandidateLink.created_at) <= now - timedelta(days=after))
    if before:
        windows.append(col(CandidateLink.expires_at) <= now + timedelta(days=before))
    if not windows:
        return 0
    statement = (
        select(Case)
        .join(CandidateLink, col(CandidateLink.case_id) == col(Case.id))
        .where(
            col(Case.state) == State.AWAITING_CONSENT,
            col(CandidateLink.purpose) == LinkPurpose.CONSENT,
            col(CandidateLink.revoked_at).is_(None),
            col(CandidateLink.used_at).is_(None),
            col(CandidateLink.expires_at) > now,
            sa.or_(*windows),
        )
        .order_by(col(Case.created_at))
        .with_for_update(of=Case, skip_locked=True)
    )
    reminded = 0
    for case in session.exec(statement).all():
        with session.begin_nested():
            reminded += mailings.queue_reminder(session, ctx, case, now=now)
    return reminded


def _locked(session: Session, *conditions: sa.ColumnElement[bool]) -> list[Case]:
    statement = (
        select(Case)
        .where(*conditions)
        .order_by(col(Case.created_at))
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(statement).all())


def run(session: Session) -> None:
    result = sweep(session, case_service.default_context(), utcnow())
    if result.expired or result.due or result.reminded:
        log.info(
            "case timers",
            expired=result.expired,
            ready_to_finalize=result.due,
            reminders=result.reminded,
        )
