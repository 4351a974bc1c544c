"""Messages: a Jinja2 template rendered to text and HTML, and the ``EmailMessage`` built.

Each template is three files in ``templates/``: ``NAME.subject.txt``, ``NAME.txt`` (the
text part, which must read well on its own) and ``NAME.html``. A template only sees the
fields its context names (``Rendered`` is made from a plain mapping the caller builds),
so nothing reaches a message that the caller did not choose to put there.

``Message-ID`` is derived from the outbox job's idempotency key, so a message sent again
for the same cause carries the same id and a receiver can tell it is a repeat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from importlib import resources
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bgcheck.platform.errors import InvalidInput

PARTS: Final = ("subject.txt", "txt", "html")

_templates = Environment(
    loader=PackageLoader("bgcheck.mail", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a missing field is a bug, not an empty line
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class HeaderInjection(InvalidInput):
    """A header value (a name, an address, a subject) holds a line break or control character."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template rendered: what goes in the subject and the two parts, and which version."""

    template: str
    version: str  # SHA-256 of the template's three files: which wording was sent
    subject: str
    text: str
    html: str


@cache
def template_version(template: str) -> str:
    """The SHA-256 (hex) of the template's three files, in order."""
    digest = hashlib.sha256()
    folder = resources.files("bgcheck.mail") / "templates"
    for part in PARTS:
        digest.update((folder / f"{template}.{part}").read_bytes())
    return digest.hexdigest()


def render(template: str, context: Mapping[str, Any]) -> Rendered:
    """Render the template's subject, text and HTML parts with ``context``."""
    subject, text, html = (
        _templates.get_template(f"{template}.{part}").render(**context) for part in PARTS
    )
    return Rendered(
        template=template,
        version=template_version(template),
        subject=subject.strip(),  # a line break inside is refused by ``build``
        text=text,
        html=html,
    )


def message_id(idempotency_key: str, sender: str) -> str:
    """``<digest@domain>``: the same key always gives the same id."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{sender.rpartition('@')[2]}>"


def build(
    rendered: Rendered,
    *,
    sender: str,
    sender_name: str,
    to: str,
    to_name: str | None,
    idempotency_key: str,
    now: datetime,
) -> EmailMessage:
    """The message: multipart/alternative (text, then HTML), with its headers checked."""
    message = EmailMessage()
    message["Subject"] = _header("subject", rendered.subject)
    message["From"] = _address("sender", sender, sender_name)
    message["To"] = _address("recipient", to, to_name)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(idempotency_key, sender)
    # RFC 3834: no out-of-office replies, no auto-forwarding loops.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _header(what: str, value: str) -> str:
    """``value`` unless it holds a line break or another control character."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        # Never quote the value: it may be a candidate's name.
        raise HeaderInjection(f"mail {what}: a line break or control character is not allowed")
    return value


def _address(what: str, address: str, name: str | None) -> Address:
    _header(f"{what} address", address)
    _header(f"{what} name", name or "")
    local, at, domain = address.partition("@")
    if not (local and at and domain) or " " in address:
        raise InvalidInput(f"mail {what} address: not an e-mail address")
    try:
        return Address(display_name=name or "", username=local, domain=domain)
    except (ValueError, IndexError):
        raise InvalidInput(f"mail {what} address: not an e-mail address") from None
