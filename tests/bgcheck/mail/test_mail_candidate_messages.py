"""The candidate's other e-mails: notices, dispute received, check complete, reminders.

Each is queued by the transition (or the sweep) that causes it, sent once by the worker
over real SMTP (aiosmtpd in its own process, STARTTLS and AUTH), carries the right link
and no PII. Both databases.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from bgcheck.cases import mailings, timers
from bgcheck.cases import service as case_service
from bgcheck.cases.context import CaseContext
from bgcheck.identity.actors import Actor
from bgcheck.models import AuditEvent, Case, JobKind, JobStatus, OutboxJob, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from bgcheck.vendors.orders import Desk, process_due
from workflow import Event, Role, State

from support.cases import (
    ASSESSMENT,
    CONSENT,
    RECORD_SSN,
    case_context,
    invite,
    new_case,
    sandbox_desk,
    to_pending_review,
)
from support.factories import make_actor
from support.smtp_server import SmtpServer

# What must never reach a candidate's e-mail: the report, the assessment, the PII.
SECRETS = (
    RECORD_SSN,
    RECORD_SSN.replace("-", ""),
    CONSENT["date_of_birth"],
    *ASSESSMENT["findings"],
    ASSESSMENT["nature_and_gravity"],
    ASSESSMENT["job_relevance"],
    "That record belongs to someone else",
    "Groundskeeper",
    "adverse",
    "not cleared",
)


def smtp_world(tmp_path: Path, smtp: SmtpServer, **settings: object) -> tuple[CaseContext, Desk]:
    ctx = case_context(
        Settings(  # type: ignore[arg-type]
            data_dir=tmp_path / "data", mail_url=smtp.url, mail_ca_file=smtp.cert, **settings
        )
    )
    return ctx, dataclasses.replace(sandbox_desk(ctx), retry_seconds=60.0)


@dataclasses.dataclass
class People:
    hr: Actor
    reviewer: Actor
    manager: Actor


def people(engine: Engine) -> People:
    with session_scope(engine) as session:
        return People(
            *(make_actor(session, role) for role in (Role.HR, Role.REVIEWER, Role.MANAGER))
        )


def fire(
    engine: Engine,
    ctx: CaseContext,
    who: Actor,
    case_id: uuid.UUID,
    event: Event,
    body: dict[str, object] | None = None,
    now: datetime | None = None,
) -> str | None:
    with session_scope(engine) as session:
        outcome = case_service.fire(
            session,
            ctx,
            who,
            case_id=case_id,
            event=event,
            body=body or {},
            expected_version=None,
            now=now or utcnow(),
        )
        return outcome.portal_token


def only_mail_pending(engine: Engine) -> None:
    """The vendor's jobs were answered in the test (``answer_order``): only mail is left."""
    with session_scope(engine) as session:
        for job in session.exec(
            select(OutboxJob).where(
                OutboxJob.kind != JobKind.MAIL, OutboxJob.status == JobStatus.PENDING
            )
        ):
            job.status = JobStatus.DONE


def mail_jobs(engine: Engine, case_id: uuid.UUID) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        return sorted(
            session.exec(
                select(OutboxJob.idempotency_key).where(
                    OutboxJob.case_id == case_id, OutboxJob.kind == JobKind.MAIL
                )
            ).all()
        )


def sent_templates(engine: Engine, case_id: uuid.UUID) -> list[str]:
    with session_scope(engine, read_only=True) as session:
        return [
            row.data["template"]
            for row in session.exec(
                select(AuditEvent)
                .where(AuditEvent.target_id == str(case_id), AuditEvent.action == "mail.sent")
                .order_by(AuditEvent.seq)  # type: ignore[arg-type]
            ).all()
        ]


def text_of(message: EmailMessage) -> str:
    parts = [message.get_body(("plain",)), message.get_body(("html",))]
    return str(message["Subject"]) + "".join(p.get_content() for p in parts if p is not None)


def assert_no_pii(message: EmailMessage) -> None:
    everything = text_of(message).lower()
    for secret in SECRETS:
        assert secret.lower() not in everything, (message["Subject"], secret)


def deliver(engine: Engine, desk: Desk, smtp: SmtpServer, count: int) -> list[EmailMessage]:
    """Run the worker; exactly ``count`` new messages arrive, and nothing more after."""
    before = len(smtp.messages())
    # Jobs queued at a test's later `now` (a sweep, a finalization) are due now: the
    # worker runs on the real clock.
    with session_scope(engine) as session:
        for job in session.exec(select(OutboxJob).where(OutboxJob.status == JobStatus.PENDING)):
            job.available_at = utcnow()
    process_due(engine, desk)
    process_due(engine, desk)  # a second pass sends nothing again
    messages = smtp.messages()[before:]
    assert len(messages) == count, [m["Subject"] for m in messages]
    return messages


def test_notices_dispute_and_completion_are_each_sent_once_with_their_link(
    fresh_engine, tmp_path, smtp
) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(tmp_path, smtp)
    who = people(engine)
    with session_scope(engine) as session:
        case_id = to_pending_review(session, ctx, who.hr, utcnow())
    only_mail_pending(engine)
    # The candidate consented through the link HR was shown before the worker ran: the
    # invitation's e-mail is moot and not sent.
    deliver(engine, desk, smtp, 0)

    fire(engine, ctx, who.reviewer, case_id, Event.CLAIM)
    fire(engine, ctx, who.reviewer, case_id, Event.PROPOSE_ADVERSE, ASSESSMENT)
    assert deliver(engine, desk, smtp, 0) == []  # nothing for the candidate yet
    first_token = fire(engine, ctx, who.manager, case_id, Event.APPROVE_ADVERSE)
    assert first_token is not None  # the page still shows the link
    (notice,) = deliver(engine, desk, smtp, 1)
    assert notice["To"] == "Pat Candidate <pat@example.org>"
    body = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{ctx.settings.public_url}/portal/{first_token}" in body
    with session_scope(engine, read_only=True) as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.adverse_deadline is not None
        deadline = case.adverse_deadline
    assert deadline.strftime("%d %B %Y, %H:%M UTC") in body  # the dispute deadline
    assert "Contact" in body
    assert_no_pii(notice)

    with session_scope(engine) as session:
        case_service.fire_as_candidate(
            session,
            ctx,
            token=first_token,
            event=Event.DISPUTE,
            body={"statement": "That record belongs to someone else."},
            now=utcnow(),
        )
    only_mail_pending(engine)  # the reinvestigation request
    (received,) = deliver(engine, desk, smtp, 1)
    assert "received" in received["Subject"]
    assert_no_pii(received)

    # The dispute resolved, a second notice (a new link), then the final notice.
    fire(
        engine,
        ctx,
        who.reviewer,
        case_id,
        Event.RESOLVE_DISPUTE,
        {"outcome": "upheld", "note": "Checked."},
    )
    fire(engine, ctx, who.reviewer, case_id, Event.PROPOSE_ADVERSE, ASSESSMENT)
    second_token = fire(engine, ctx, who.manager, case_id, Event.APPROVE_ADVERSE)
    assert second_token not in (None, first_token)
    (second,) = deliver(engine, desk, smtp, 1)
    assert f"/portal/{second_token}" in text_of(second)
    assert f"/portal/{first_token}" not in text_of(second)
    with session_scope(engine, read_only=True) as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.adverse_deadline is not None
        later = case.adverse_deadline + timedelta(seconds=1)
    with session_scope(engine) as session:
        timers.sweep(session, ctx, later)
    final_token = fire(engine, ctx, who.reviewer, case_id, Event.FINALIZE_ADVERSE, now=later)
    assert final_token is not None
    final, complete = sorted(
        deliver(engine, desk, smtp, 2), key=lambda m: "complete" in m["Subject"]
    )
    assert f"/portal/{final_token}" in text_of(final)
    assert "free copy" in text_of(final)
    assert "complete" in complete["Subject"]
    assert "/portal/" not in text_of(complete)
    for message in (final, complete):
        assert_no_pii(message)

    sent = sent_templates(engine, case_id)
    assert sent[:3] == [
        mailings.PRE_ADVERSE_NOTICE,
        mailings.DISPUTE_RECEIVED,
        mailings.PRE_ADVERSE_NOTICE,
    ]
    assert sorted(sent[3:]) == sorted([mailings.FINAL_NOTICE, mailings.CHECK_COMPLETE])
    assert len(mail_jobs(engine, case_id)) == 6  # one job per cause, the invitation's too
    message_ids = [m["Message-ID"] for m in smtp.messages()]
    assert len(set(message_ids)) == len(message_ids)


def test_a_cleared_case_announces_completion_and_a_cancelled_one_does_not(
    fresh_engine, tmp_path, smtp
) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(tmp_path, smtp)
    who = people(engine)
    with session_scope(engine) as session:
        cleared = to_pending_review(session, ctx, who.hr, utcnow(), result="clear")
        cancelled = new_case(session, ctx, who.hr, utcnow())
        invite(session, ctx, who.hr, cancelled, utcnow())
    only_mail_pending(engine)
    fire(engine, ctx, who.reviewer, cleared, Event.CLAIM)
    fire(engine, ctx, who.reviewer, cleared, Event.CLEAR)
    fire(engine, ctx, who.hr, cancelled, Event.CANCEL, {"reason": "The position was withdrawn."})
    # Both invitations are moot (consented; cancelled): only the completion is sent.
    (complete,) = deliver(engine, desk, smtp, 1)
    assert sent_templates(engine, cleared) == [mailings.CHECK_COMPLETE]
    assert sent_templates(engine, cancelled) == []
    assert "complete" in complete["Subject"]
    assert_no_pii(complete)
    assert "clear" not in text_of(complete).lower()


def test_reminders_fire_at_their_times_once_and_carry_the_invitation_link(
    fresh_engine, tmp_path, smtp
) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(tmp_path, smtp, consent_ttl_days=14)
    who = people(engine)
    start = utcnow()
    with session_scope(engine) as session:
        case_id = new_case(session, ctx, who.hr, start)
        token = invite(session, ctx, who.hr, case_id, start)

    def sweep(at: datetime) -> int:
        with session_scope(engine) as session:
            return timers.sweep(session, ctx, at).reminded

    assert sweep(start + timedelta(days=2, hours=23)) == 0
    assert sweep(start + timedelta(days=3)) == 1  # unanswered for three days
    assert sweep(start + timedelta(days=3, hours=1)) == 0  # never twice
    assert sweep(start + timedelta(days=12, hours=23)) == 0
    assert sweep(start + timedelta(days=13)) == 1  # a day before the link expires
    assert sweep(start + timedelta(days=13, hours=12)) == 0
    keys = mail_jobs(engine, case_id)
    assert sum(":unanswered" in key for key in keys) == 1
    assert sum(":expiring" in key for key in keys) == 1

    messages = deliver(engine, desk, smtp, 3)  # the invitation and both reminders
    assert all(f"/portal/{token}" in text_of(m) for m in messages)
    reminders = [m for m in messages if "Reminder" in m["Subject"]]
    assert len(reminders) == 2
    for message in reminders:
        assert_no_pii(message)
    assert sent_templates(engine, case_id).count(mailings.REMINDER) == 2

    # At expiry the sweep expires the case: no reminder then, nor after.
    assert sweep(start + timedelta(days=14, seconds=1)) == 0
    with session_scope(engine, read_only=True) as session:
        assert session.get(Case, case_id).state is State.EXPIRED  # type: ignore[union-attr]


def test_a_reminder_is_not_sent_after_consent_and_not_queued_once_consented(
    fresh_engine, tmp_path, smtp
) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(tmp_path, smtp)
    who = people(engine)
    start = utcnow()
    with session_scope(engine) as session:
        case_id = new_case(session, ctx, who.hr, start)
        token = invite(session, ctx, who.hr, case_id, start)
    deliver(engine, desk, smtp, 1)  # the invitation
    with session_scope(engine) as session:
        assert timers.sweep(session, ctx, start + timedelta(days=3)).reminded == 1
        case_service.fire_as_candidate(
            session, ctx, token=token, event=Event.CONSENT, body=CONSENT, now=utcnow()
        )
    deliver(engine, desk, smtp, 0)  # queued before the consent: dropped, not sent
    with session_scope(engine, read_only=True) as session:
        statuses = session.exec(
            select(OutboxJob.status).where(OutboxJob.kind == JobKind.MAIL)
        ).all()
    assert set(statuses) == {JobStatus.DONE}
    assert sent_templates(engine, case_id) == [mailings.INVITATION]
    with session_scope(engine) as session:
        assert timers.sweep(session, ctx, start + timedelta(days=13)).reminded == 0


def test_reminders_can_be_turned_off_and_a_short_link_gets_one(
    fresh_engine, tmp_path, smtp
) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    off, _ = smtp_world(tmp_path, smtp, reminder_after_days=0, reminder_before_expiry_days=0)
    short, _ = smtp_world(tmp_path, smtp, consent_ttl_days=3)
    who = people(engine)
    start = utcnow()
    with session_scope(engine) as session:
        case_id = new_case(session, short, who.hr, start)
        invite(session, short, who.hr, case_id, start)
    with session_scope(engine) as session:
        assert timers.sweep(session, off, start + timedelta(days=2, hours=12)).reminded == 0
    # Three days to answer: at day 2 the "expiring" window is open; at day 3 - 1 s the
    # "unanswered" one would be too, but only one reminder per window is ever queued.
    with session_scope(engine) as session:
        assert timers.sweep(session, short, start + timedelta(days=2, hours=12)).reminded == 1
    with session_scope(engine) as session:
        assert (
            timers.sweep(session, short, start + timedelta(days=3) - timedelta(seconds=1)).reminded
            == 0
        )
    keys = mail_jobs(engine, case_id)
    assert [key.rsplit(":", 1)[1] for key in keys if "reminder" in key] == ["expiring"]
