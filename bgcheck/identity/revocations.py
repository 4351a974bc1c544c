"""Tokens that stop working before they expire, in one table (``revoked_tokens``) that
every API process reads: signed-out access tokens, ended page sign-ins, and the one-time
steps that must answer once (a second-factor step, a single sign-on flow).

A revocation is kept until the token would have expired anyway, then purged hourly.
Keys are hashes of what identifies the token, never the token itself.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col

from bgcheck.models import RevokedToken


def key(*parts: str) -> str:
    """The revocation key of a token named by ``parts`` (a purpose, an issuer, an id)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def is_revoked(session: Session, revocation_key: str) -> bool:
    return session.get(RevokedToken, revocation_key) is not None


def revoke(session: Session, revocation_key: str, *, until: datetime, now: datetime) -> bool:
    """Revoke a token until ``until`` (when it expires anyway); False if it already was.

    For one-time steps, False means "used already". Two requests revoking the same key at
    once: one wins, the other's commit fails with an ``IntegrityError`` (the primary key).
    """
    if is_revoked(session, revocation_key):
        return False
    session.add(RevokedToken(token_key=revocation_key, expires_at=until, revoked_at=now))
    session.flush()
    return True


def purge(session: Session, now: datetime) -> None:
    """Revocations of tokens that have expired anyway are no longer needed."""
    session.execute(delete(RevokedToken).where(col(RevokedToken.expires_at) < now))
