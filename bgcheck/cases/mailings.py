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
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Final

from sqlmodel import Session, select

from bgcheck import audit, mail
from bgcheck.cases import links
from bgcheck.cases.context import CaseContext
from bgcheck.models import Case, JobKind, OutboxJob, User, new_id
from bgcheck.platform.errors import InvalidInput, NotFound
from bgcheck.vault.store import Shredded
from workflow import State

INVITATION: Final = "invitation"
SEALED_TABLE: Final = "outbox"


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
    if session.exec(select(OutboxJob.id).where(OutboxJob.idempotency_key == key)).first():
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


def queue_invitation(
    session: Session,
    ctx: CaseContext,
    *,
    case_id: uuid.UUID,
    link_id: uuid.UUID,
    token: str,
    now: datetime,
) -> bool:
    """The candidate's invitation, one per link issued (the link is the cause)."""
    return queue(
        session,
        ctx,
        case_id=case_id,
        template=INVITATION,
        cause=str(link_id),
        carried={"token": token},
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


def _invitation(
    session: Session, ctx: CaseContext, case: Case, carried: Mapping[str, Any], now: datetime
) -> tuple[str, str | None, dict[str, str]] | None:
    if case.state is not State.AWAITING_CONSENT or case.invitation_expires_at is None:
        return None  # consented, cancelled or expired since: the invitation is moot
    token = str(carried["token"])
    try:
        links.resolve(session, token, now=now)
    except NotFound:
        return None  # replaced by a newer link (its own message) or expired
    contact = ctx.vault.contact(session, case.id)
    if not contact.email:
        raise mail.MailRejected("the candidate has no e-mail address")
    hr = session.get(User, case.created_by)
    context = {
        "org_name": ctx.settings.org_name,
        "candidate_name": contact.given_name or contact.full_name or "",
        "portal_url": f"{ctx.settings.public_url.rstrip('/')}/portal/{token}",
        "expires_at": case.invitation_expires_at.strftime("%d %B %Y, %H:%M UTC"),
        "contact_name": hr.display_name if hr else ctx.settings.org_name,
        "contact_email": hr.email if hr else ctx.settings.mail_sender,
    }
    return contact.email, contact.full_name, context


BUILDERS: Final[Mapping[str, Builder]] = {INVITATION: _invitation}


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
