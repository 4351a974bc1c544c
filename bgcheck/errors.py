"""The errors bgcheck raises on purpose. Only ``api/errors.py`` maps them to HTTP.

``public_detail`` is shown to the caller: it says what to fix and never carries PII,
secrets or internal identifiers beyond what the caller already sent.
"""

from __future__ import annotations


class BgcheckError(Exception):
    """Base of every deliberate error; ``slug`` names the problem type."""

    slug = "error"
    title = "Request failed"

    def __init__(self, public_detail: str) -> None:
        super().__init__(public_detail)
        self.public_detail = public_detail


class NotFound(BgcheckError):
    slug = "not-found"
    title = "Not found"


class Conflict(BgcheckError):
    slug = "conflict"
    title = "Conflict"


class InvalidInput(BgcheckError):
    slug = "invalid-input"
    title = "Invalid input"


class Forbidden(BgcheckError):
    slug = "forbidden"
    title = "Forbidden"


class Unavailable(BgcheckError):
    slug = "unavailable"
    title = "Service unavailable"
