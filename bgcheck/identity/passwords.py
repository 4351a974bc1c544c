"""Password hashing with argon2id (passlib's CryptContext over argon2-cffi), and strength.

Parameters follow OWASP's Password Storage Cheat Sheet (argon2id, m=19 MiB, t=2, p=1).
``needs_update`` tells the login code to re-hash when these parameters change.

Strength follows NIST SP 800-63B: a minimum length; a refusal of passwords found in
breached-password lists (zxcvbn's 30,000 most common, from public breach corpora), built
on the commonest leaked words, or containing the user's own email; and zxcvbn's estimate
of the guesses an attacker needs (at least 10^8). No composition rules.
"""

from __future__ import annotations

import os
import re
import threading
from functools import cache
from importlib import resources
from typing import Final

from passlib.context import CryptContext
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256
# zxcvbn's "safely unguessable" threshold: 10^8 guesses, out of reach of an online attack
# and costly offline against argon2id.
MIN_GUESSES: Final = 10**8
# A password offered at sign-in longer than this is wrong without hashing it: passlib
# refuses more than 4,096 characters with an exception (a 500), and hashing megabytes
# costs CPU for nothing. No stored password is longer than MAX_LENGTH.
MAX_CHECKED_LENGTH: Final = 4096

_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__time_cost=2,
    argon2__parallelism=1,
)


# argon2id takes ~50 ms of a core by design. Half the cores at most hash at once, so a burst
# of logins (or a password-guessing run) cannot starve every other request of CPU.
_hashing = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))


class WeakPassword(ValueError):
    """The password is too short; the message says what is required."""


@cache
def _breached() -> frozenset[str]:
    """zxcvbn's list of the most common passwords from public breaches, lower-cased."""
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


@cache
def _common_roots() -> frozenset[str]:
    text = resources.files("bgcheck.data").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_strength(password: str, *, email: str | None = None) -> None:
    """Raise WeakPassword saying what is wrong; the message never repeats the password."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    letters = re.sub(r"[^a-z]", "", lowered)
    if lowered in _breached() or letters in _breached():
        raise WeakPassword(
            "password is in lists of breached passwords that attackers try first; "
            "choose another (a few unrelated words make a good one)"
        )
    if not letters or letters in _common_roots() or len(set(password)) < 4:
        raise WeakPassword("password is too common; a few unrelated words make a good one")
    local_part = (email or "").partition("@")[0].lower()
    if email and (email.lower() in lowered or (len(local_part) >= 4 and local_part in lowered)):
        raise WeakPassword("password must not contain your email address or its name part")
    inputs = [part for part in (email, local_part) if part]
    if zxcvbn(password, user_inputs=inputs)["guesses"] < MIN_GUESSES:
        raise WeakPassword(
            "password is too easy to guess (a pattern, a keyboard run or a common word "
            "with digits); a few unrelated words make a good one"
        )


def hash_password(password: str, *, email: str | None = None) -> str:
    """Check the new password's strength, then hash it."""
    check_strength(password, email=email)
    with _hashing:
        return _context.hash(password)


def hash_password_unchecked(password: str) -> str:
    """Re-hash a password already in use (new parameters at login): no strength check."""
    with _hashing:
        return _context.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    if len(password) > MAX_CHECKED_LENGTH:
        return False
    with _hashing:
        return _context.verify(password, password_hash)


def needs_update(password_hash: str) -> bool:
    return _context.needs_update(password_hash)
