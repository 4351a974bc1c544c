"""Messages: headers checked, the template's parts, no PII beyond what the template names."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bgcheck import mail
from bgcheck.cases import mailings
from bgcheck.mail.mailbox import read_message, stored_messages
from bgcheck.mail.transport import MaildirTransport

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script> & {{ 7*7 }} \' " 123-45-6789 1990-04-01'
# Every field a candidate template may use (each template uses some of them).
FIELDS = (
    "org_name",
    "candidate_name",
    "portal_url",
    "expires_at",
    "contact_name",
    "contact_email",
    "deadline",
    "readable_until",
    "received_at",
)


def invitation(**changes: str) -> mail.Rendered:
    context = {
        "org_name": "Example University",
        "candidate_name": "Pat",
        "portal_url": "https://bgcheck.example.edu/portal/TOKEN",
        "expires_at": "20 December 2026, 09:30 UTC",
        "contact_name": "Harper Reed",
        "contact_email": "hr@example.edu",
    }
    return mail.render(mailings.INVITATION, context | changes)


def built(rendered: mail.Rendered, **changes: str) -> mail.messages.EmailMessage:
    fields = {"sender": "bgcheck@example.edu", "sender_name": "Example University"}
    fields |= {"to": "pat@example.org", "to_name": "Pat Candidate"} | changes
    return mail.build(rendered, idempotency_key="mail:invitation:k", now=NOW, **fields)  # type: ignore[arg-type]


def test_the_message_has_a_text_and_an_html_part_and_proper_headers() -> None:
    message = built(invitation())
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "https://bgcheck.example.edu/portal/TOKEN" in text.get_content()
    assert "20 December 2026" in text.get_content()
    assert "hr@example.edu" in text.get_content()
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["From"] == "Example University <bgcheck@example.edu>"
    assert message["To"] == "Pat Candidate <pat@example.org>"
    assert message["Date"] == "Sun, 06 Dec 2026 09:30:00 +0000"
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.edu>", message["Message-ID"])


def test_the_message_id_follows_the_idempotency_key() -> None:
    assert mail.message_id("k1", "a@x.org") == mail.message_id("k1", "b@x.org")
    assert mail.message_id("k1", "a@x.org") != mail.message_id("k2", "a@x.org")


@pytest.mark.parametrize(
    "changes",
    [
        {"to_name": "Pat\r\nBcc: victim@example.com"},
        {"to_name": "Pat\nBcc: victim@example.com"},
        {"to": "pat@example.org\r\nBcc: victim@example.com"},
        {"sender_name": "Org\rX-Injected: 1"},
        {"to_name": "Pat\x00"},
    ],
)
def test_a_line_break_in_a_header_value_is_refused(changes: dict[str, str]) -> None:
    with pytest.raises(mail.HeaderInjection) as refused:
        built(invitation(), **changes)
    assert "victim" not in str(refused.value)
    assert "Pat" not in str(refused.value)


def test_a_line_break_in_the_subject_is_refused() -> None:
    with pytest.raises(mail.HeaderInjection):
        built(invitation(org_name="Org\r\nBcc: victim@example.com"))


def test_not_an_address_is_refused() -> None:
    with pytest.raises(mail.messages.InvalidInput):
        built(invitation(), to="not an address")


@pytest.mark.parametrize("template", sorted(mailings.BUILDERS))
def test_hostile_values_in_every_field_are_escaped_in_html(template: str) -> None:
    rendered = mail.render(template, dict.fromkeys(FIELDS, HOSTILE))
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "49" not in rendered.text + rendered.html  # a template is never evaluated twice
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


@pytest.mark.parametrize("template", sorted(mailings.BUILDERS))
def test_every_template_has_three_parts_and_a_neutral_subject(template: str) -> None:
    rendered = mail.render(template, dict.fromkeys(FIELDS, "x"))
    assert rendered.subject
    assert rendered.text.strip()
    assert rendered.html.strip()
    words = (rendered.subject + rendered.text + rendered.html).lower()
    # Neutral wording: no outcome, no finding, nothing about what the report holds.
    for word in (
        "adverse",
        "cleared",
        "not cleared",
        "offense",
        "conviction",
        "criminal",
        "result",
        "denied",
        "rejected",
        "passed",
        "failed",
    ):
        assert word not in words, (template, word)


def test_the_template_version_is_a_digest_of_its_files() -> None:
    version = invitation().version
    assert re.fullmatch(r"[0-9a-f]{64}", version)
    assert version == mail.messages.template_version(mailings.INVITATION)


def test_the_maildir_keeps_a_message_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    box = MaildirTransport(tmp_path / "mail")
    message = built(invitation())
    box.send(message)
    box.send(message)  # a retry after a crash: the same Message-ID
    (stored,) = stored_messages(tmp_path / "mail")
    assert stored.subject == message["Subject"]
    assert read_message(tmp_path / "mail", stored.key)["Message-ID"] == message["Message-ID"]
