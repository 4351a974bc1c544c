"""E-mail: messages built from templates, sent over SMTP or into the embedded Maildir.

``messages`` renders a template and builds the ``EmailMessage`` (refusing CR/LF in any
header value); ``transport`` delivers it and says whether a failure is worth a retry
(``MailError``) or final (``MailRejected``). Who gets what, and when, is decided above
this package: the cases (``bgcheck.cases.mailings``) queue messages in the outbox, and the
outbox worker (``bgcheck.vendors.orders``) sends them. Docs: docs/notifications.md.
"""

from bgcheck.mail.messages import HeaderInjection, Rendered, build, message_id, render
from bgcheck.mail.transport import (
    MailError,
    MailRejected,
    Transport,
    make_transport,
)

__all__ = [
    "HeaderInjection",
    "MailError",
    "MailRejected",
    "Rendered",
    "Transport",
    "build",
    "make_transport",
    "message_id",
    "render",
]
