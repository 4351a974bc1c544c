"""The errors bgcheck raises on purpose. Only ``api/errors.py`` maps them to HTTP.

``public_detail`` is shown to the caller: it says what to fix and never carries PII,
secrets or internal identifiers beyond what the caller already sent.
"""

from __future__ import annotations


class BgcheckError(Exception):
    """Base of every deliberate error; ``slug`` names the problem type."""

    slug = "error"
    title = "Request failed"
    # True when the work done before the error must still commit: the audit event and
    # the counter of a failed login, a refused webhook. The unit of work commits, then
    # re-raises (see bgcheck.platform.db.session_scope).
    keeps_changes = False

    def __init__(self, public_detail: str) -> None:
        super().__init__(public_detail)
        self.public_detail = public_detail


class NotFound(BgcheckError):
    slug = "not-found"
    title = "Not found"


class Conflict(BgcheckError):
    slug = "conflict"
    title = "Conflict"


class PreconditionFailed(BgcheckError):
    """The caller's ``If-Match`` version is stale."""

    slug = "precondition-failed"
    title = "Precondition failed"


class InvalidInput(BgcheckError):
    slug = "invalid-input"
    title = "Invalid input"


class Forbidden(BgcheckError):
    slug = "forbidden"
    title = "Forbidden"


class Unavailable(BgcheckError):
    slug = "unavailable"
    title = "Service unavailable"


class Unauthenticated(BgcheckError):
    slug = "unauthenticated"
    title = "Authentication required"


class LoginFailed(Unauthenticated):
    """Wrong email or password; the same answer whether or not the account exists."""

    title = "Login failed"
    keeps_changes = True


class SingleSignOnFailed(Unauthenticated):
    """Browser sign-in through the identity provider did not complete (``reason``: a
    ``bgcheck.identity.sso.Failure``, recorded in the audit trail). Nothing was changed
    but that record."""

    title = "Single sign-on failed"

    def __init__(self, public_detail: str, *, reason: str) -> None:
        super().__init__(public_detail)
        self.reason = reason


class TooManyAttempts(BgcheckError):
    slug = "too-many-attempts"
    title = "Too many attempts"
    keeps_changes = True

    def __init__(self, public_detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(public_detail)
        self.retry_after_seconds = retry_after_seconds


class SecondFactorRequired(Unauthenticated):
    """The password was right, but the one-time code is missing. Counted as a failed
    login (the throttle's count and the ``mfa.failed`` event commit)."""

    slug = "mfa-required"
    title = "One-time code required"
    keeps_changes = True

    def __init__(self, public_detail: str, *, reason: str = "missing") -> None:
        super().__init__(public_detail)
        self.reason = reason


class SecondFactorFailed(SecondFactorRequired):
    """The one-time code (TOTP or recovery code) was wrong or already used (``reason``:
    a ``bgcheck.identity.mfa.Refusal``). Counted as a failed login."""

    slug = "mfa-failed"
    title = "One-time code not accepted"


class SecondFactorNotEnrolled(Forbidden):
    """The account has no authenticator yet: it is set up in the web pages, not the API."""

    slug = "mfa-not-enrolled"
    title = "Second factor not set up"
    keeps_changes = True  # the login.failed event


class SingleSignOnWithoutMfa(Unauthenticated):
    """A provider's token that does not show a second factor (its ``amr``/``acr``)."""

    slug = "sso-mfa-required"
    title = "Second factor required"
