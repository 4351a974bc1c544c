"""E-mail to the people of a case, through the outbox: queued with a transition, sent once.

``queue`` writes a ``mail`` outbox job in the caller's transaction (the transition that
causes the message), keyed ``mail:<template>:<case id>:<cause>``: the same cause queued
twice is one job. The job row holds no PII in clear: what the message needs beyond the
case (the template, the candidate's portal token) is sealed with the case's data key,
and the recipient's address is read from the vault when the worker sends, so shredding
the case shreds its unsent mail too.

``prepare`` (the worker, ``bgcheck.vendors.orders``) builds the message, or says there
is nothing to send any more (the case moved on, the link was replaced); ``record_sent``
and ``record_failed`` put the delivery on the audit trail: template, template version,
``Message-ID``, recipient kind, never the address. Docs: docs/notifications.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Final

from sqlmodel import Session, col, select

from bgcheck import audit, mail
from bgcheck.cases import links
from bgcheck.cases.context import CaseContext
from bgcheck.models import CandidateLink, Case, JobKind, LinkPurpose, OutboxJob, User, new_id
from bgcheck.platform.errors import InvalidInput, NotFound
from bgcheck.vault.store import Shredded
from workflow import State

INVITATION: Final = "invitation"
REMINDER: Final = "invitation_reminder"
PRE_ADVERSE_NOTICE: Final = "pre_adverse_notice"
FINAL_NOTICE: Final = "final_notice"
DISPUTE_RECEIVED: Final = "dispute_received"
CHECK_COMPLETE: Final = "check_complete"
SEALED_TABLE: Final = "outbox"
LINK_TEMPLATES: Final = frozenset({INVITATION, PRE_ADVERSE_NOTICE, FINAL_NOTICE})

# The two reminders of an unanswered invitation: at most one of each per link.
UNANSWERED: Final = "unanswered"  # BGCHECK_REMINDER_AFTER_DAYS after the link was issued
EXPIRING: Final = "expiring"  # BGCHECK_REMINDER_BEFORE_EXPIRY_DAYS before it expires


def job_key(template: str, case_id: uuid.UUID, cause: str) -> str:
    return f"mail:{template}:{case_id}:{cause}"


def queue(
    session: Session,
    ctx: CaseContext,
    *,
    case_id: uuid.UUID,
    template: str,
    cause: str,
    carried: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Queue one message for this cause, unless it is queued already; True if queued."""
    key = job_key(template, case_id, cause)
    if _queued(session, key):
        return False
    job_id = new_id()
    sealed = ctx.vault.seal_record(
        session, case_id, SEALED_TABLE, str(job_id), {"template": template, **carried}
    )
    session.add(
        OutboxJob(
            id=job_id,
            case_id=case_id,
            kind=JobKind.MAIL,
            idempotency_key=key,
            created_at=now,
            available_at=now,
            sealed=sealed,
        )
    )
    return True


def _queued(session: Session, key: str) -> bool:
    return (
        session.exec(select(OutboxJob.id).where(OutboxJob.idempotency_key == key)).first()
        is not None
    )


def queue_link(
    session: Session,
    ctx: CaseContext,
    *,
    case_id: uuid.UUID,
    template: str,
    link_id: uuid.UUID,
    token: str,
    now: datetime,
) -> bool:
    """A message carrying a candidate's link (the invitation, a notice): one per link
    issued, the link being the cause."""
    if template not in LINK_TEMPLATES:
        raise ValueError(f"not a template that carries a link: {template!r}")
    return queue(
        session,
        ctx,
        case_id=case_id,
        template=template,
        cause=str(link_id),
        carried={"token": token},
        now=now,
    )


def queue_dispute_received(
    session: Session, ctx: CaseContext, *, case_id: uuid.UUID, version: int, now: datetime
) -> bool:
    """The confirmation of a dispute; a case may see several (one per notice), so the
    cause is the case's version when the dispute arrived."""
    return queue(
        session,
        ctx,
        case_id=case_id,
        template=DISPUTE_RECEIVED,
        cause=f"v{version}",
        carried={"received_at": now.isoformat()},
        now=now,
    )


def queue_check_complete(
    session: Session, ctx: CaseContext, *, case_id: uuid.UUID, now: datetime
) -> bool:
    """ "Your check is complete": once per case (a decided case stays decided)."""
    return queue(
        session,
        ctx,
        case_id=case_id,
        template=CHECK_COMPLETE,
        cause="decided",
        carried={},
        now=now,
    )


def reminder_due(
    link: CandidateLink, settings_after: int, settings_before: int, now: datetime
) -> str | None:
    """Which reminder a live invitation link is due now, if any.

    Once the "expiring" window is open only that one is due: a candidate never gets two
    reminders at once when the link's lifetime is short.
    """
    if now >= link.expires_at:
        return None
    if settings_before and now >= link.expires_at - timedelta(days=settings_before):
        return EXPIRING
    if settings_after and now >= link.created_at + timedelta(days=settings_after):
        return UNANSWERED
    return None


def queue_reminder(session: Session, ctx: CaseContext, case: Case, *, now: datetime) -> bool:
    """Queue the reminder the case's invitation link is due, once per link and kind.

    The reminder carries the invitation's own link: its token is copied from the
    invitation's mail job (sealed there with the case's key, sealed again in the
    reminder's job). A link whose invitation job is gone (purged, 30 days after it was
    sent) or whose case was shredded gets no reminder.
    """
    if case.state is not State.AWAITING_CONSENT:
        return False
    settings = ctx.settings
    link = session.exec(
        select(CandidateLink).where(
            CandidateLink.case_id == case.id,
            CandidateLink.purpose == LinkPurpose.CONSENT,
            col(CandidateLink.revoked_at).is_(None),
            col(CandidateLink.used_at).is_(None),
        )
    ).first()
    if link is None:
        return False
    kind = reminder_due(
        link, settings.reminder_after_days, settings.reminder_before_expiry_days, now
    )
    if kind is None:
        return False
    cause = f"{link.id}:{kind}"
    if _queued(session, job_key(REMINDER, case.id, cause)):
        return False  # checked before opening the invitation's sealed token
    invitation = session.exec(
        select(OutboxJob).where(
            OutboxJob.idempotency_key == job_key(INVITATION, case.id, str(link.id))
        )
    ).first()
    if invitation is None or invitation.sealed is None:
        return False
    try:
        carried = ctx.vault.open_record(
            session, case.id, SEALED_TABLE, str(invitation.id), invitation.sealed
        )
    except Shredded:
        return False
    return queue(
        session,
        ctx,
        case_id=case.id,
        template=REMINDER,
        cause=cause,
        carried={"token": str(carried["token"]), "kind": kind},
        now=now,
    )


@dataclass(slots=True)
class Outgoing:
    """A message ready to send, and the facts its audit event records."""

    facts: dict[str, str]
    message: EmailMessage | None = None
    refusal: str | None = None  # why it can never be sent (a bad address or name)

    def send(self, transport: mail.Transport) -> None:
        """Deliver; a failure carries ``facts`` for ``record_failed``."""
        try:
            if self.message is None:
                raise mail.MailRejected(self.refusal or "nothing to send")
            transport.send(self.message)
        except mail.MailError as exc:
            exc.facts = self.facts
            raise


def prepare(
    session: Session, ctx: CaseContext, *, job: OutboxJob, case: Case, now: datetime
) -> Outgoing | None:
    """The message a mail job sends now, or None when it no longer has a reason to go."""
    assert job.sealed is not None
    try:
        carried = ctx.vault.open_record(session, case.id, SEALED_TABLE, str(job.id), job.sealed)
    except Shredded:
        return None  # retention destroyed the case's PII: there is no one left to write to
    template = str(carried["template"])
    build = BUILDERS.get(template)
    if build is None:
        raise ValueError(f"no mail template {template!r}")
    settings = ctx.settings
    facts = {
        "template": template,
        "template_version": mail.messages.template_version(template),
        "message_id": mail.message_id(job.idempotency_key, settings.mail_sender),
        "recipient": "candidate",
        "job": str(job.id),
    }
    built = build(session, ctx, case, carried, now)
    if built is None:
        return None
    to, to_name, context = built
    try:
        message = mail.build(
            mail.render(template, context),
            sender=settings.mail_sender,
            sender_name=settings.org_name,
            to=to,
            to_name=to_name,
            idempotency_key=job.idempotency_key,
            now=now,
        )
    except InvalidInput as exc:  # a header injection or not an address: never sendable
        return Outgoing(facts, refusal=exc.public_detail)
    return Outgoing(facts, message)


# What a template needs: the recipient, their name, the template's fields; None: not sent.
Builder = Callable[
    [Session, CaseContext, Case, Mapping[str, Any], datetime],
    tuple[str, str | None, dict[str, str]] | None,
]


def _when(moment: datetime) -> str:
    return moment.strftime("%d %B %Y, %H:%M UTC")


def _to_candidate(
    session: Session, ctx: CaseContext, case: Case
) -> tuple[str, str | None, dict[str, str]]:
    """The candidate's address and name, and the fields every candidate e-mail has: who
    writes, whom to greet, whom to contact (the HR user who created the case)."""
    contact = ctx.vault.contact(session, case.id)
    if not contact.email:
        raise mail.MailRejected("the candidate has no e-mail address")
    hr = session.get(User, case.created_by)
    context = {
        "org_name": ctx.settings.org_name,
        "candidate_name": contact.given_name or contact.full_name or "",
        "contact_name": hr.display_name if hr else ctx.settings.org_name,
        "contact_email": hr.email if hr else ctx.settings.mail_sender,
    }
    return contact.email, contact.full_name, context


def _live_link(session: Session, token: str, now: datetime) -> CandidateLink | None:
    try:
        return links.resolve(session, token, now=now)
    except NotFound:
        return None  # replaced by a newer link (its own message), revoked or expired


def _invitation(
    session: Session, ctx: CaseContext, case: Case, carried: Mapping[str, Any], now: datetime
) -> tuple[str, str | None, dict[str, str]] | None:
    """The invitation, and its reminders: only while the same link still waits for consent."""
    if case.state is not State.AWAITING_CONSENT or case.invitation_expires_at is None:
        return None  # consented, cancelled or expired since: the invitation is moot
    token = str(carried["token"])
    if _live_link(session, token, now) is None:
        return None
    to, to_name, context = _to_candidate(session, ctx, case)
    context |= {
        "portal_url": links.portal_url(ctx.settings, token),
        "expires_at": _when(case.invitation_expires_at),
    }
    return to, to_name, context


def _notice(
    session: Session, ctx: CaseContext, case: Case, carried: Mapping[str, Any], now: datetime
) -> tuple[str, str | None, dict[str, str]] | None:
    """A notice's e-mail, while its link is live (a final notice replaces the pre-adverse
    one's link, and the pre-adverse e-mail is moot once the case left that state)."""
    template = str(carried["template"])
    wanted = State.PRE_ADVERSE_NOTICE if template == PRE_ADVERSE_NOTICE else State.NOT_CLEARED
    if case.state is not wanted:
        return None
    token = str(carried["token"])
    link = _live_link(session, token, now)
    if link is None:
        return None
    to, to_name, context = _to_candidate(session, ctx, case)
    context |= {
        "portal_url": links.portal_url(ctx.settings, token),
        "readable_until": _when(link.expires_at),
    }
    if template == PRE_ADVERSE_NOTICE:
        if case.adverse_deadline is None:
            return None
        context["deadline"] = _when(case.adverse_deadline)
    return to, to_name, context


def _dispute_received(
    session: Session, ctx: CaseContext, case: Case, carried: Mapping[str, Any], now: datetime
) -> tuple[str, str | None, dict[str, str]] | None:
    to, to_name, context = _to_candidate(session, ctx, case)
    context["received_at"] = _when(datetime.fromisoformat(str(carried["received_at"])))
    return to, to_name, context


def _check_complete(
    session: Session, ctx: CaseContext, case: Case, carried: Mapping[str, Any], now: datetime
) -> tuple[str, str | None, dict[str, str]] | None:
    if case.state not in DECIDED:
        return None
    return _to_candidate(session, ctx, case)


# The final states that announce completion; cancelled and expired cases never ran (or
# never finished) a check, so "your check is complete" would not be true.
DECIDED: Final = frozenset({State.CLEARED, State.NOT_CLEARED})


BUILDERS: Final[Mapping[str, Builder]] = {
    INVITATION: _invitation,
    REMINDER: _invitation,
    PRE_ADVERSE_NOTICE: _notice,
    FINAL_NOTICE: _notice,
    DISPUTE_RECEIVED: _dispute_received,
    CHECK_COMPLETE: _check_complete,
}


def record_sent(
    session: Session, case_id: uuid.UUID, facts: Mapping[str, str], now: datetime
) -> None:
    audit.record(
        session,
        audit.AuditActor.system("worker"),
        action="mail.sent",
        target=audit.Target.of("case", case_id),
        data=dict(facts),
        now=now,
    )


def record_failed(
    session: Session, case_id: uuid.UUID, facts: Mapping[str, str], reason: str, now: datetime
) -> None:
    """The message will not be sent (a 5xx, or every attempt failed): the job is dead."""
    audit.record(
        session,
        audit.AuditActor.system("worker"),
        action="mail.failed",
        target=audit.Target.of("case", case_id),
        data={**facts, "reason": reason[:200]},
        now=now,
    )
