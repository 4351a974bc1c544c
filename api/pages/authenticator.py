"""What the pages show to set up an authenticator app: the QR code and the secret.

The QR code is inline ``<svg>`` markup (segno), because the pages' CSP allows images from
our own origin only and an ``<img>`` of a data URL would be refused. The secret is shown
as text too, in groups of four, for apps without a camera. The form carries the secret
back sealed (``SecretBox.seal_pending``), bound to the user: the server keeps no state for
an enrollment that is never finished, and a page from another account does not fit.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import segno
from markupsafe import Markup

from bgcheck.identity import auth, mfa
from bgcheck.platform.settings import Settings


def qr_svg(text: str) -> Markup:
    """``text`` as a QR code, an ``<svg>`` element that scales to its box (viewBox only)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        omitsize=True,
        border=4,
        dark="#000",
        light="#fff",
        svgclass="qr",
        lineclass=None,
        title="QR code to scan with your authenticator app",
    )
    return Markup(out.getvalue().decode("ascii"))  # noqa: S704  (segno's markup, our text)


def issuer(settings: Settings) -> str:
    """The name the authenticator app lists the account under."""
    return "bgcheck" if settings.org_name == "bgcheck" else f"bgcheck {settings.org_name}"


def setup_context(
    config: auth.AuthConfig,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    email: str,
    secret: str | None = None,
) -> dict[str, Any]:
    """The template values of a set-up form: a new secret, or the one a form carried back."""
    secret = secret or mfa.new_secret()
    uri = mfa.provisioning_uri(secret, account=email, issuer=issuer(settings))
    return {
        "qr": qr_svg(uri),
        "secret_text": mfa.grouped(secret),
        "pending": config.secret_box.seal_pending(secret, user_id=user_id),
        "issuer": issuer(settings),
    }
