"""Password hashing with argon2id (passlib's CryptContext over argon2-cffi).

Parameters follow OWASP's Password Storage Cheat Sheet (argon2id, m=19 MiB, t=2, p=1).
``needs_update`` tells the login code to re-hash when these parameters change.
"""

from __future__ import annotations

from typing import Final

from passlib.context import CryptContext

MIN_LENGTH: Final = 12

_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__time_cost=2,
    argon2__parallelism=1,
)


class WeakPassword(ValueError):
    """The password is too short; the message says what is required."""


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    return _context.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _context.verify(password, password_hash)


def needs_update(password_hash: str) -> bool:
    return _context.needs_update(password_hash)
