"""E-mail through the outbox: the invitation sent once by the worker, over real SMTP.

The SMTP server is aiosmtpd in its own process, with STARTTLS on a self-signed
certificate and AUTH (``support.smtp_server``); nothing in the transport is mocked.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from bgcheck import audit, mail
from bgcheck.cases import links, mailings, service
from bgcheck.cases.context import CaseContext
from bgcheck.cli import app
from bgcheck.mail.mailbox import read_message, stored_messages
from bgcheck.models import (
    AuditEvent,
    Case,
    CaseKey,
    JobKind,
    JobStatus,
    LinkPurpose,
    OutboxJob,
    utcnow,
)
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings, get_settings
from bgcheck.vault.store import forget_keys
from bgcheck.vendors.orders import Desk, process_due, retry_dead
from workflow import Event, Role, State

from support.cases import CONSENT, case_context, invite, new_case, sandbox_desk
from support.factories import make_actor
from support.smtp_server import SmtpServer


def world(engine: Engine, tmp_path: Path, **settings: object) -> tuple[CaseContext, Desk]:
    ctx = case_context(Settings(data_dir=tmp_path / "data", **settings))  # type: ignore[arg-type]
    # A retry waits (30 s to a minute): each process_due makes one attempt per job.
    return ctx, dataclasses.replace(sandbox_desk(ctx), retry_seconds=60.0)


def smtp_world(engine: Engine, tmp_path: Path, smtp: SmtpServer) -> tuple[CaseContext, Desk]:
    return world(engine, tmp_path, mail_url=smtp.url, mail_ca_file=smtp.cert)


def invited(engine: Engine, ctx: CaseContext) -> tuple[uuid.UUID, str]:
    with session_scope(engine) as session:
        hr = make_actor(session, Role.HR)
        case_id = new_case(session, ctx, hr, utcnow())
        return case_id, invite(session, ctx, hr, case_id, utcnow())


def mail_jobs(engine: Engine, case_id: uuid.UUID) -> list[OutboxJob]:
    with session_scope(engine, read_only=True) as session:
        rows = list(
            session.exec(
                select(OutboxJob).where(
                    OutboxJob.case_id == case_id, OutboxJob.kind == JobKind.MAIL
                )
            ).all()
        )
        for row in rows:
            session.expunge(row)
        return rows


def events(engine: Engine, case_id: uuid.UUID, prefix: str = "mail.") -> list[AuditEvent]:
    with session_scope(engine, read_only=True) as session:
        rows = [
            row
            for row in session.exec(
                select(AuditEvent)
                .where(AuditEvent.target_id == str(case_id))
                .order_by(AuditEvent.seq)  # type: ignore[arg-type]
            ).all()
            if row.action.startswith(prefix)
        ]
        for row in rows:
            session.expunge(row)
        return rows


def make_due(engine: Engine) -> None:
    with session_scope(engine) as session:
        for job in session.exec(select(OutboxJob).where(OutboxJob.status == JobStatus.PENDING)):
            job.available_at = utcnow()


def test_the_invitation_goes_out_over_smtp_with_starttls_and_auth(
    fresh_engine, tmp_path, smtp
) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(engine, tmp_path, smtp)
    case_id, token = invited(engine, ctx)
    (job,) = mail_jobs(engine, case_id)
    # The row holds no PII and no token in clear: only the sealed bytes.
    assert job.sealed is not None
    assert b"pat@example.org" not in job.sealed
    assert token.encode() not in job.sealed
    assert "pat" not in job.idempotency_key

    assert process_due(engine, desk) == 1
    (message,) = smtp.messages()
    assert message["To"] == "Pat Candidate <pat@example.org>"
    assert message["From"] == "bgcheck <bgcheck@localhost>"
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    # The same link HR was given, which opens the consent form.
    assert f"{ctx.settings.public_url}/portal/{token}" in body
    assert "Contact" in body
    (job,) = mail_jobs(engine, case_id)
    assert job.status is JobStatus.DONE
    (sent,) = events(engine, case_id)
    assert sent.action == "mail.sent"
    assert sent.data["template"] == "invitation"
    assert sent.data["recipient"] == "candidate"
    assert sent.data["message_id"] == message["Message-ID"]
    assert len(sent.data["template_version"]) == 64
    assert "pat@example.org" not in str(sent.data)

    assert process_due(engine, desk) == 0  # nothing left: sent once
    assert len(smtp.messages()) == 1


def test_a_4xx_is_retried_and_the_message_then_sent_once(fresh_engine, tmp_path, smtp) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(engine, tmp_path, smtp)
    smtp.answer_next("451 4.3.0 Try again later")
    case_id, _ = invited(engine, ctx)
    process_due(engine, desk)
    (job,) = mail_jobs(engine, case_id)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 1)
    assert job.last_error is not None
    assert "451" in job.last_error
    assert job.available_at > utcnow() - timedelta(seconds=1)
    assert smtp.messages() == []
    assert events(engine, case_id) == []

    make_due(engine)
    process_due(engine, desk)
    (job,) = mail_jobs(engine, case_id)
    assert (job.status, job.attempts) == (JobStatus.DONE, 2)
    assert len(smtp.messages()) == 1
    assert [event.action for event in events(engine, case_id)] == ["mail.sent"]


def test_a_5xx_makes_the_job_dead_and_an_admin_can_retry_it(fresh_engine, tmp_path, smtp) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(engine, tmp_path, smtp)
    smtp.answer_next("550 5.1.1 No such user")
    case_id, _ = invited(engine, ctx)
    process_due(engine, desk)
    (job,) = mail_jobs(engine, case_id)
    assert (job.status, job.attempts) == (JobStatus.DEAD, 1)
    (failed,) = events(engine, case_id)
    assert failed.action == "mail.failed"
    assert failed.data["template"] == "invitation"
    assert "550" in failed.data["reason"]
    assert "pat@example.org" not in str(failed.data)
    assert smtp.messages() == []

    with session_scope(engine) as session:
        retry_dead(session, audit.AuditActor.system("admin"), job.id, utcnow())
    process_due(engine, desk)
    assert len(smtp.messages()) == 1
    assert [e.action for e in events(engine, case_id)] == ["mail.failed", "mail.sent"]


def test_a_wrong_password_is_permanent(fresh_engine, tmp_path, smtp) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    url = smtp.url.replace("mail-password-for-tests", "wrong")
    ctx, desk = world(engine, tmp_path, mail_url=url, mail_ca_file=smtp.cert)
    case_id, _ = invited(engine, ctx)
    process_due(engine, desk)
    (job,) = mail_jobs(engine, case_id)
    assert job.status is JobStatus.DEAD
    assert job.last_error is not None
    assert "535" in job.last_error


def test_an_untrusted_certificate_is_not_sent_to(fresh_engine, tmp_path, smtp) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = world(engine, tmp_path, mail_url=smtp.url)  # the system CAs only
    case_id, _ = invited(engine, ctx)
    process_due(engine, desk)
    (job,) = mail_jobs(engine, case_id)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 1)  # retried later
    assert job.last_error is not None
    assert "SSLCertVerificationError" in job.last_error
    assert smtp.messages() == []


def test_the_same_cause_queued_twice_is_sent_once(fresh_engine, tmp_path, smtp) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(engine, tmp_path, smtp)
    case_id, token = invited(engine, ctx)
    with session_scope(engine) as session:
        (job,) = session.exec(select(OutboxJob).where(OutboxJob.kind == JobKind.MAIL)).all()
        link_id = job.idempotency_key.rsplit(":", 1)[1]
        again = mailings.queue_link(
            session, ctx, case_id=case_id, template=mailings.INVITATION,
            link_id=uuid.UUID(link_id), token=token, now=utcnow(),
        )  # fmt: skip
    assert again is False
    process_due(engine, desk)
    make_due(engine)
    process_due(engine, desk)
    assert len(mail_jobs(engine, case_id)) == 1
    assert len(smtp.messages()) == 1


def test_a_replaced_or_moot_invitation_is_not_sent(fresh_engine, tmp_path, smtp) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(engine, tmp_path, smtp)
    case_id, _token = invited(engine, ctx)
    with session_scope(engine) as session:
        links.issue(
            session,
            case_id=case_id,
            purpose=LinkPurpose.CONSENT,
            now=utcnow(),
            lifetime=timedelta(days=1),
        )
    process_due(engine, desk)
    (job,) = mail_jobs(engine, case_id)
    assert job.status is JobStatus.DONE
    assert smtp.messages() == []
    assert events(engine, case_id) == []


def test_embedded_mode_delivers_into_the_maildir_and_the_cli_reads_it(
    fresh_engine, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = world(engine, tmp_path)
    case_id, token = invited(engine, ctx)
    process_due(engine, desk)
    (stored,) = stored_messages(ctx.settings.mail_dir)
    assert stored.to == "Pat Candidate <pat@example.org>"
    message = read_message(ctx.settings.mail_dir, stored.key)
    assert token in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [e.action for e in events(engine, case_id)] == ["mail.sent"]

    monkeypatch.setenv("BGCHECK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    env = {"BGCHECK_DATA_DIR": str(tmp_path / "data")}
    listed = CliRunner().invoke(app, ["mail", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert stored.key in listed.output
    assert "background check" in listed.output
    shown = CliRunner().invoke(app, ["mail", "show", stored.key], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"/portal/{token}" in shown.output
    missing = CliRunner().invoke(app, ["mail", "show", "nope"], env=env)
    assert missing.exit_code != 0
    get_settings.cache_clear()


def test_the_invitation_never_carries_the_ssn_or_date_of_birth(fresh_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Even once the vault holds them: the builder reads only the contact (name, address)."""
    engine = fresh_engine()
    ctx, _desk = world(engine, tmp_path)
    case_id, token = invited(engine, ctx)
    with session_scope(engine) as session:
        service.fire_as_candidate(
            session, ctx, token=token, event=Event.CONSENT, body=CONSENT, now=utcnow()
        )
    with session_scope(engine, read_only=True) as session:
        case = session.get(Case, case_id)
        assert case is not None
        details = ctx.vault.details(session, case_id)
        case.state = State.AWAITING_CONSENT  # as if the consent had not happened yet
        built = mailings.BUILDERS[mailings.INVITATION](
            session, ctx, case, {"token": token}, utcnow()
        )
        session.rollback()
    assert built is not None
    _, _, context = built
    rendered = mail.render(mailings.INVITATION, context)
    everything = rendered.subject + rendered.text + rendered.html + str(context)
    ssn, dob = details["ssn"], details["date_of_birth"]
    for secret in (ssn, ssn.replace("-", ""), ssn[-4:], dob, dob.replace("-", "/")):
        assert secret not in everything


def test_mail_of_a_shredded_case_is_dropped(fresh_engine, tmp_path, smtp) -> None:  # type: ignore[no-untyped-def]
    engine = fresh_engine()
    ctx, desk = smtp_world(engine, tmp_path, smtp)
    case_id, _ = invited(engine, ctx)
    with session_scope(engine) as session:  # what retention's purge does to the key
        session.exec(sa.delete(CaseKey).where(CaseKey.case_id == case_id))
    forget_keys([case_id])
    process_due(engine, desk)
    (job,) = mail_jobs(engine, case_id)
    assert job.status is JobStatus.DONE
    assert smtp.messages() == []
    assert events(engine, case_id) == []
