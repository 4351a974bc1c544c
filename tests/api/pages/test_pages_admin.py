"""The administrators' Sent mail and Outbox pages: who may open them, and what they show.

The mail is the real invitation, queued by ``invite`` and delivered into the embedded
Maildir by the outbox worker (``process_due``), then read back through the pages.
"""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from bgcheck.mail import mailbox
from bgcheck.models import AuditEvent, JobKind, JobStatus, OutboxJob
from bgcheck.platform.db import session_scope
from bgcheck.platform.settings import Settings
from bgcheck.vendors.orders import process_due

from support.cases import sandbox_desk
from support.pages import Office, Staff

PORTAL = re.compile(r"/portal/[A-Za-z0-9_-]{20,}")


def deliver(office: Office) -> None:
    """The worker's pass over the outbox: the invitation into the embedded Maildir."""
    while process_due(office.engine, sandbox_desk(office.ctx)):
        pass


def mail_job(office: Office, case_id: uuid.UUID) -> OutboxJob:
    with session_scope(office.engine, read_only=True) as session:
        job = session.exec(
            select(OutboxJob).where(OutboxJob.case_id == case_id, OutboxJob.kind == JobKind.MAIL)
        ).one()
        session.expunge(job)
    return job


def dead_mail_job(office: Office) -> uuid.UUID:
    """An invitation the mail server refused for good (as a 5xx leaves it)."""
    case_id, _ = office.invited()
    with session_scope(office.engine) as session:
        job = session.exec(
            select(OutboxJob).where(OutboxJob.case_id == case_id, OutboxJob.kind == JobKind.MAIL)
        ).one()
        job.status, job.attempts, job.last_error = JobStatus.DEAD, 1, "MailRejected: 550"
        session.add(job)
        return job.id


def audit_actions(office: Office, target: str) -> list[str]:
    with session_scope(office.engine, read_only=True) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.target_id == target)).all()
        return [row.action for row in rows]


def test_sent_mail_lists_the_invitation_and_shows_its_text_with_the_link(office: Office) -> None:
    case_id, token = office.invited()
    deliver(office)
    admin = office.staff("admin")
    listing = admin.get("/admin/mail")
    assert listing.status_code == 200
    assert "pat@example.org" in listing.text
    assert "background check" in listing.text
    keys = re.findall(r'href="/admin/mail/([0-9a-f]{32})"', listing.text)
    assert keys, listing.text
    stored = mailbox.stored_messages(office.ctx.settings.mail_dir)
    assert {s.key for s in stored} == set(keys)
    # The one whose link is this case's: the page shows the text part, link included.
    pages = {key: admin.get(f"/admin/mail/{key}") for key in keys}
    (key,) = [key for key, page in pages.items() if f"/portal/{token}" in page.text]
    page = pages[key]
    assert page.status_code == 200
    assert "Auto-Submitted" in page.text
    assert "auto-generated" in page.text
    assert '<pre class="mail-text">' in page.text
    # Opening a message is on the record, by its key (no address).
    assert "mail.viewed" in audit_actions(office, key)
    # Newest first: the reverse of the mailbox's order (the reading code the CLI uses).
    assert keys == [s.key for s in reversed(stored)]
    assert str(case_id) not in listing.text


def test_sent_mail_is_in_the_admins_menu_only(office: Office) -> None:
    assert 'href="/admin/mail"' in office.staff("admin").get("/").text
    assert 'href="/admin/outbox"' in office.staff("admin").get("/").text
    for role in ("hr", "reviewer", "manager", "auditor"):
        home = office.staff(role).get("/").text
        assert "/admin/mail" not in home
        assert "/admin/outbox" not in home


def test_an_unknown_or_malformed_message_key_is_not_found(office: Office) -> None:
    admin = office.staff("admin")
    assert admin.get(f"/admin/mail/{'0' * 32}").status_code == 404
    assert admin.get("/admin/mail/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert admin.get("/admin/mail/new").status_code == 404


def test_with_smtp_configured_the_page_says_so_and_lists_nothing(office: Office, tmp_path) -> None:  # type: ignore[no-untyped-def]
    office.invited()
    deliver(office)  # the office's own Maildir holds mail; this app must not list it
    settings = Settings(
        data_dir=office.ctx.settings.data_dir,
        embedded_worker=False,
        mail_url="smtp://mail.example.org:587",
    )
    app = create_app(settings, office.engine)
    with TestClient(app, raise_server_exceptions=False):
        admin = Staff(app, office.users["admin"])
        page = admin.get("/admin/mail")
        assert page.status_code == 200
        assert "SMTP server" in page.text
        assert "/admin/mail/" not in page.text
        assert "pat@example.org" not in page.text
        key = mailbox.stored_messages(office.ctx.settings.mail_dir)[0].key
        shown = admin.get(f"/admin/mail/{key}")
        assert shown.status_code == 200
        assert PORTAL.search(shown.text) is None


def test_the_outbox_shows_dead_jobs_without_pii_and_sends_them_again(office: Office) -> None:
    job_id = dead_mail_job(office)
    admin = office.staff("admin")
    page = admin.get("/admin/outbox")
    assert page.status_code == 200
    assert f'action="/admin/outbox/{job_id}/retry"' in page.text
    assert "MailRejected: 550" in page.text
    assert "Send again" in page.text
    for pii in ("pat@example.org", "Candidate", "/portal/"):
        assert pii not in page.text.replace("candidate", "")
    # Without the form's CSRF token: refused, nothing changes.
    refused = admin.client.post(f"/admin/outbox/{job_id}/retry", follow_redirects=False)
    assert refused.status_code == 403
    job = mail_job_by_id(office, job_id)
    assert job.status is JobStatus.DEAD
    sent = admin.post(f"/admin/outbox/{job_id}/retry")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/admin/outbox?done=retried"
    job = mail_job_by_id(office, job_id)
    assert job.status is JobStatus.PENDING
    assert job.attempts == 0
    assert "vendor.job_retried" in audit_actions(office, str(job.case_id))
    after = admin.get("/admin/outbox?done=retried").text
    assert "back in the queue" in after
    assert f'action="/admin/outbox/{job_id}/retry"' not in after  # no longer dead
    # A job that is not dead (any more) cannot be sent again: 404, as in the API.
    assert admin.post(f"/admin/outbox/{job_id}/retry").status_code == 404


def mail_job_by_id(office: Office, job_id: uuid.UUID) -> OutboxJob:
    with session_scope(office.engine, read_only=True) as session:
        job = session.get(OutboxJob, job_id)
        assert job is not None
        session.expunge(job)
    return job
