"""The case page's timeline: the transitions, and the e-mails about the case once sent."""

from __future__ import annotations

from bgcheck.vendors.orders import Desk, process_due

from support.pages import Office


def test_the_timeline_shows_the_invitation_email_once_it_left(office: Office) -> None:
    case_id, _ = office.invited()
    hr = office.staff("hr")
    queued = hr.get(f"/cases/{case_id}")
    assert queued.status_code == 200
    assert "E-mail sent" not in queued.text  # queued is not sent

    desk = Desk.from_settings(office.ctx.settings, office.ctx)
    assert process_due(office.engine, desk) >= 1  # the worker's outbox pass: into the Maildir

    sent = hr.get(f"/cases/{case_id}")
    assert "E-mail sent" in sent.text
    assert "(invitation)" in sent.text
    assert sent.text.index("Invite") < sent.text.index("E-mail sent")
