"""Delivering a message: SMTP (STARTTLS or TLS) or the embedded Maildir.

``make_transport`` reads ``BGCHECK_MAIL_URL``:

- ``smtp://user:pass@host:587``: STARTTLS, required (``?starttls=false`` turns it off,
  for a relay on the same host); ``smtps://user:pass@host:465``: TLS from the first byte.
  The server's certificate is checked against the system's CAs, or
  ``BGCHECK_MAIL_CA_FILE``.
- unset: the embedded ``Maildir`` under the data dir, so a demo needs no mail server;
  ``bgcheck mail list`` reads it.

A failure is either worth a retry (``MailError``: 4xx replies, refused or dropped
connections, timeouts, TLS handshakes) or final (``MailRejected``: 5xx replies, a
message the server will never take). The outbox retries the first and gives up on the
second at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import mailbox
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from bgcheck.platform.settings import Settings


class MailError(Exception):
    """Sending failed for now; try again later. The message is safe to log (no address).

    ``facts`` (template, message id: no address) is filled in by whoever knows them, for
    the audit event of a message that is given up on.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.facts: Mapping[str, str] = {}


class MailRejected(MailError):
    """The server refused the message for good (a 5xx reply): retrying will not help."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise ``MailError`` / ``MailRejected``."""


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    host: str
    port: int
    tls: bool  # TLS from the first byte (smtps)
    starttls: bool  # STARTTLS, required, on a plain connection (smtp)
    username: str | None
    password: str | None
    timeout: float
    context: ssl.SSLContext

    def send(self, message: EmailMessage) -> None:
        try:
            client = self._connect()
            try:
                if self.username is not None:
                    client.login(self.username, self.password or "")
                client.send_message(message)
            finally:
                # Sent (or failed) already: a lost QUIT changes nothing.
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    client.quit()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _classified(min(codes) if codes else 450, "recipient refused") from None
        except smtplib.SMTPResponseException as exc:
            raise _classified(exc.smtp_code, type(exc).__name__) from None
        except smtplib.SMTPNotSupportedError:
            raise MailError("the server lacks a required extension (STARTTLS or AUTH)") from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, TLS
            raise MailError(f"{type(exc).__name__}: cannot reach the mail server") from None

    def _connect(self) -> smtplib.SMTP:
        if self.tls:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.starttls:
            client.ehlo()
            client.starttls(context=self.context)  # SMTPNotSupportedError if not offered
        client.ehlo()
        return client


def _classified(code: int, what: str) -> MailError:
    if 500 <= code < 600:
        return MailRejected(f"{what}: {code}")
    return MailError(f"{what}: {code}")


@dataclass(frozen=True, slots=True)
class MaildirTransport:
    """Delivery into a Maildir; a message already there (same ``Message-ID``) is kept once."""

    path: Path

    def send(self, message: EmailMessage) -> None:
        box = mailbox.Maildir(self.path, create=True)
        key = maildir_key(message)
        if key in box:
            return  # delivered before: a retry after a crash
        data = message.as_bytes(policy=message.policy.clone(linesep="\n"))
        tmp = self.path / "tmp" / f"{key}.{os.getpid()}"
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(tmp, self.path / "new" / key)  # fails if a concurrent worker won
        except FileExistsError:
            pass
        finally:
            tmp.unlink()


def maildir_key(message: EmailMessage) -> str:
    """The Maildir file name: the digest of the ``Message-ID`` (one file per message)."""
    return hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:32]


def make_transport(settings: Settings) -> Transport:
    """The transport ``BGCHECK_MAIL_URL`` names, or the embedded Maildir."""
    if settings.mail_url is None:
        return MaildirTransport(settings.mail_dir)
    url = urlsplit(settings.mail_url.get_secret_value())
    query = parse_qs(url.query)
    starttls = query.get("starttls", ["true"])[-1].lower() not in ("false", "0", "no", "off")
    tls = url.scheme == "smtps"
    context = ssl.create_default_context(
        cafile=str(settings.mail_ca_file) if settings.mail_ca_file else None
    )
    return SmtpTransport(
        host=url.hostname or "localhost",
        port=url.port or (465 if tls else 587),
        tls=tls,
        starttls=starttls and not tls,
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        timeout=settings.mail_timeout_seconds,
        context=context,
    )
