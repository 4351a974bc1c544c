"""Reading the embedded mailbox: the Maildir ``BGCHECK_MAIL_URL`` unset delivers into.

One implementation for both readers: ``bgcheck mail list/show`` (``bgcheck.cli.mail``)
and the admins' "Sent mail" page (``api.pages.admin``). With a real SMTP transport
configured, mail goes to that server and this mailbox is not where it is: ``embedded``
says which, and the readers say so instead of listing a stale mailbox.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Final

from sqlmodel import Session

from bgcheck import audit
from bgcheck.platform.errors import NotFound
from bgcheck.platform.settings import Settings

HEADERS: Final = ("Date", "From", "To", "Subject", "Message-ID", "Auto-Submitted")
# A key is what ``transport.maildir_key`` names a file: 32 hex digits. Anything else is
# refused before the Maildir is asked (no path can be smuggled in through the key).
_KEY: Final = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class Stored:
    key: str
    date: str
    to: str
    subject: str


@dataclass(frozen=True, slots=True)
class Shown:
    """One message as a reader shows it: its headers, and its text and HTML parts."""

    key: str
    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key == name), "")


def embedded(settings: Settings) -> bool:
    """Whether mail goes into the embedded Maildir (no ``BGCHECK_MAIL_URL``)."""
    return settings.mail_url is None


def stored_messages(path: Path) -> list[Stored]:
    """The Maildir's messages, oldest first."""
    if not (path / "new").is_dir():
        return []
    box = mailbox.Maildir(path, create=False)
    found = []
    for key in box.iterkeys():
        parsed = read_message(path, key)
        # A long header is folded onto its next line; its value is what follows.
        date, to, subject = (str(parsed[name] or "").strip() for name in ("Date", "To", "Subject"))
        found.append(Stored(key, date, to, subject))
    return sorted(found, key=lambda s: (_sortable(s.date), s.key))


def read_message(path: Path, key: str) -> EmailMessage:
    """One message of the Maildir, parsed; ``KeyError`` when there is none with that key."""
    box = mailbox.Maildir(path, create=False)
    with box.get_file(key) as file:
        data = file.read()
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def show(path: Path, key: str) -> Shown:
    """One message, headers and parts; ``NotFound`` when the mailbox has no such key."""
    if not _KEY.fullmatch(key) or not (path / "new").is_dir():
        raise NotFound("no such message in the mailbox")
    try:
        message = read_message(path, key)
    except (KeyError, FileNotFoundError):
        raise NotFound("no such message in the mailbox") from None
    headers = tuple((name, str(message[name] or "").strip()) for name in HEADERS)
    return Shown(key, headers, _part(message, "plain"), _part(message, "html"))


def _part(message: EmailMessage, kind: str) -> str | None:
    body = message.get_body((kind,))
    return None if body is None else str(body.get_content())


def _sortable(date: str) -> float:
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return 0.0


def read_audited(
    session: Session, who: audit.AuditActor, path: Path, key: str, *, now: datetime
) -> Shown:
    """``show`` for a person on a page: the message holds a candidate's address and link,
    so opening it is recorded (``mail.viewed``, the message's key, never the address)."""
    shown = show(path, key)
    audit.record(
        session,
        who,
        action="mail.viewed",
        target=audit.Target.of("mailbox", key),
        data={"message": key},
        now=now,
    )
    return shown
