"""Masked renderings of PII for people whose role may see a hint but not the value.

Pure string helpers; which role sees what is decided elsewhere. Every mask has a fixed
shape, so the length of the hidden part is not revealed, and a value too short or too
malformed to mask safely is hidden entirely rather than partly shown.
"""

from __future__ import annotations

import unicodedata

HIDDEN = "****"

_SSN_HIDDEN = "***-**-****"
_PHONE_HIDDEN = "***-***-****"


def _digits(value: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if "0" <= ch <= "9")


def ssn_last4(ssn: str) -> str | None:
    """The last four digits of a 9-digit SSN, or None if it is not one."""
    digits = _digits(ssn) if isinstance(ssn, str) else ""
    return digits[-4:] if len(digits) == 9 else None


def mask_ssn(ssn: str) -> str:
    """``***-**-6789``: what HR sees (SPEC: SSN masked to last 4)."""
    last4 = ssn_last4(ssn)
    return _SSN_HIDDEN if last4 is None else f"***-**-{last4}"


def mask_phone(phone: str) -> str:
    """``***-***-4567`` for a number of at least 10 digits; fully hidden otherwise."""
    digits = _digits(phone) if isinstance(phone, str) else ""
    return f"***-***-{digits[-4:]}" if len(digits) >= 10 else _PHONE_HIDDEN


def mask_last4(value: str) -> str:
    """``****1234`` for identifiers (driver's licence, passport) of 8+ letters or digits.

    Four characters of a shorter identifier would give most of it away, so it is hidden.
    """
    kept = "".join(ch for ch in value if ch.isalnum()) if isinstance(value, str) else ""
    return f"{HIDDEN}{kept[-4:].upper()}" if len(kept) >= 8 else HIDDEN


def mask_email(email: str) -> str:
    """``j***@example.edu``: the first character of the mailbox and the whole domain."""
    if not isinstance(email, str):
        return f"***@{HIDDEN}"
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain:
        return f"***@{HIDDEN}"
    return f"{local[0]}***@{domain}"


def mask_name(name: str) -> str:
    """``J.``: an initial, for lists where a name must be recognisable but not readable."""
    stripped = name.strip() if isinstance(name, str) else ""
    return f"{stripped[0].upper()}." if stripped else HIDDEN


def mask_date(_value: object) -> str:
    """Dates of birth are never partly shown (SPEC: DOB hidden); one shape for all."""
    return "****-**-**"
