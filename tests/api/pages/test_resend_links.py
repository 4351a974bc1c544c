"""Sending a candidate's link again, from the pages and the API (issue 17).

EM sends a notice again (``bgcheck.cases.resends``): a new link, the old one revoked,
``case.notice_link_reissued`` on the record; only reviewers and managers who can reach
the case. HR sends an invitation again by firing ``invite`` again: a new link, the old
one revoked, and a new e-mail queued that carries the new link.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from bgcheck.mail import mailbox
from bgcheck.models import AuditEvent, Case, JobKind, OutboxJob, utcnow
from bgcheck.platform.db import session_scope
from bgcheck.vendors.orders import process_due
from workflow import Event, Role

from support.cases import sandbox_desk
from support.factories import make_user
from support.pages import Office, Staff, csrf_of

LINK = re.compile(r'id="invitation-url" type="text" readonly value="[^"]*/portal/([^"]+)"')


def portal_status(office: Office, token: str) -> int:
    return office.anonymous().get(f"/portal/{token}").status_code


def audit_data(office: Office, case_id: uuid.UUID, action: str) -> list[dict[str, object]]:
    with session_scope(office.engine, read_only=True) as session:
        rows = session.exec(
            select(AuditEvent).where(
                AuditEvent.target_id == str(case_id), AuditEvent.action == action
            )
        ).all()
        return [dict(row.data) for row in rows]


def finalized(office: Office) -> tuple[uuid.UUID, str]:
    """Past the waiting period and finalized: the candidate has the final notice's link."""
    case_id, _ = office.in_notice()
    with session_scope(office.engine) as session:
        case = session.exec(select(Case).where(Case.id == case_id)).one()
        case.adverse_deadline = utcnow() - timedelta(minutes=1)
        session.add(case)
    token = office.fire("reviewer", case_id, Event.FINALIZE_ADVERSE)
    assert token is not None
    return case_id, token


def test_a_reviewer_sends_the_pre_adverse_notice_again_from_the_page(office: Office) -> None:
    case_id, old = office.in_notice()
    reviewer = office.staff("reviewer")
    page = reviewer.get(f"/cases/{case_id}").text
    assert f'action="/cases/{case_id}/notice-link"' in page
    answer = reviewer.post(f"/cases/{case_id}/notice-link")
    assert answer.status_code == 200, answer.text
    (new,) = LINK.findall(answer.text)
    assert "A new link to the notice" in answer.text
    assert "An e-mail with the new link is queued" in answer.text  # queued, not "sent"
    assert new != old
    assert portal_status(office, old) == 404
    assert portal_status(office, new) == 200
    assert "dispute" in office.anonymous().get(f"/portal/{new}").text.lower()
    (data,) = audit_data(office, case_id, "case.notice_link_reissued")
    assert data["notice"] == "pre_adverse_notice"
    assert data["emailed"] is True
    assert office.state(case_id).value == "pre_adverse_notice"  # the case did not move
    deliver(office)
    links = mailed_links(office)
    assert new in links  # the candidate gets the new link by e-mail


def test_a_manager_sends_the_final_notice_again_through_the_api(office: Office) -> None:
    case_id, old = finalized(office)
    manager = office.staff("manager")
    assert f'action="/cases/{case_id}/notice-link"' in manager.get(f"/cases/{case_id}").text
    answer = manager.api("POST", f"/api/v1/cases/{case_id}/notice-link")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["notice"] == "final_notice"
    assert body["emailed"] is True
    new = body["notice_url"].rsplit("/portal/", 1)[1]
    assert portal_status(office, old) == 404
    assert portal_status(office, new) == 200
    # A second resend revokes the first resend's link too.
    again = manager.api("POST", f"/api/v1/cases/{case_id}/notice-link").json()
    assert portal_status(office, new) == 404
    assert portal_status(office, again["notice_url"].rsplit("/portal/", 1)[1]) == 200
    assert len(audit_data(office, case_id, "case.notice_link_reissued")) == 2


def test_no_notice_to_send_again_is_a_conflict(office: Office) -> None:
    case_id = office.in_review()
    reviewer = office.staff("reviewer")
    answer = reviewer.api("POST", f"/api/v1/cases/{case_id}/notice-link")
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert f'action="/cases/{case_id}/notice-link"' not in reviewer.get(f"/cases/{case_id}").text
    assert reviewer.post(f"/cases/{case_id}/notice-link").status_code == 409


@pytest.mark.parametrize(
    ("role", "status"), [("hr", 403), ("other_hr", 403), ("auditor", 403), ("admin", 403)]
)
def test_roles_that_may_not_send_a_notice_again(office: Office, role: str, status: int) -> None:
    case_id, old = office.in_notice()
    staff = office.staff(role)
    answer = staff.api("POST", f"/api/v1/cases/{case_id}/notice-link")
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert staff.post(f"/cases/{case_id}/notice-link").status_code == status
    assert portal_status(office, old) == 200  # nothing changed
    assert audit_data(office, case_id, "case.notice_link_reissued") == []
    if role == "hr":  # hr reads the case, and is not offered the button
        assert "/notice-link" not in staff.get(f"/cases/{case_id}").text


def test_the_candidates_own_account_cannot_send_their_notice_again(office: Office) -> None:
    """A reviewer who is the candidate (same e-mail): the case is not found, as everywhere."""
    case_id, old = office.in_notice()
    with session_scope(office.engine) as session:
        own = make_user(session, Role.REVIEWER, email="pat@example.org").id
    staff = Staff(office.app, own)
    answer = staff.api("POST", f"/api/v1/cases/{case_id}/notice-link")
    assert answer.status_code == 404
    assert staff.post(f"/cases/{case_id}/notice-link").status_code == 404
    assert portal_status(office, old) == 200
    assert audit_data(office, case_id, "case.notice_link_reissued") == []


def test_the_page_form_needs_its_csrf_token(office: Office) -> None:
    case_id, old = office.in_notice()
    reviewer = office.staff("reviewer")
    refused = reviewer.client.post(f"/cases/{case_id}/notice-link", follow_redirects=False)
    assert refused.status_code == 403
    assert portal_status(office, old) == 200


# -- HR sends the invitation again ----------------------------------------------------------


def deliver(office: Office) -> None:
    while process_due(office.engine, sandbox_desk(office.ctx)):
        pass


def mailed_links(office: Office) -> set[str]:
    """Every portal token in the embedded Maildir's messages (their text parts)."""
    found = set()
    for stored in mailbox.stored_messages(office.ctx.settings.mail_dir):
        text = mailbox.show(office.ctx.settings.mail_dir, stored.key).text or ""
        found.update(re.findall(r"/portal/([A-Za-z0-9_-]{20,})", text))
    return found


def mail_jobs(office: Office, case_id: uuid.UUID) -> int:
    with session_scope(office.engine, read_only=True) as session:
        return len(
            session.exec(
                select(OutboxJob).where(
                    OutboxJob.case_id == case_id, OutboxJob.kind == JobKind.MAIL
                )
            ).all()
        )


def test_hr_sends_the_invitation_again_from_the_page_and_the_api(office: Office) -> None:
    hr = office.staff("hr")
    case_id = office.new_case()
    first = hr.post(f"/cases/{case_id}/events/invite", {"version": ""})
    (token1,) = LINK.findall(first.text)
    deliver(office)
    assert token1 in mailed_links(office)
    page = hr.get(f"/cases/{case_id}").text
    assert "Send a new invitation" in page
    csrf = csrf_of(page)
    second = hr.client.post(
        f"/cases/{case_id}/events/invite", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert second.status_code == 200, second.text
    (token2,) = LINK.findall(second.text)
    assert token2 != token1
    assert portal_status(office, token1) == 404
    assert mail_jobs(office, case_id) == 2
    deliver(office)
    assert token2 in mailed_links(office)
    # The API, a third time: the answer's link, and its own e-mail queued.
    answer = hr.api("POST", f"/api/v1/cases/{case_id}/events/invite", json={})
    assert answer.status_code == 200, answer.text
    token3 = answer.json()["invitation_url"].rsplit("/portal/", 1)[1]
    assert portal_status(office, token2) == 404
    assert mail_jobs(office, case_id) == 3
    deliver(office)
    assert token3 in mailed_links(office)
    assert portal_status(office, token3) == 200


def test_hr_of_another_department_cannot_send_the_invitation_again(office: Office) -> None:
    case_id, token = office.invited()
    other = office.staff("other_hr")
    answer = other.api("POST", f"/api/v1/cases/{case_id}/events/invite", json={})
    assert answer.status_code == 404
    assert other.post(f"/cases/{case_id}/events/invite").status_code == 404
    assert portal_status(office, token) == 200
    assert mail_jobs(office, case_id) == 1
