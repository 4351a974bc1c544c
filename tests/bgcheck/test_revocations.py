"""Tokens revoked before they expire (``bgcheck.identity.revocations``): one table, one rule."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from bgcheck.identity import revocations
from bgcheck.models import utcnow


def test_a_revocation_answers_once_and_is_purged_when_the_token_has_expired(
    db: Session,
) -> None:
    now = utcnow()
    key = revocations.key("test-step", "one")
    assert not revocations.is_revoked(db, key)
    assert revocations.revoke(db, key, until=now + timedelta(minutes=10), now=now)
    assert revocations.is_revoked(db, key)
    assert not revocations.revoke(db, key, until=now + timedelta(minutes=10), now=now)
    revocations.purge(db, now + timedelta(minutes=5))
    assert revocations.is_revoked(db, key)  # not expired yet: still refused
    revocations.purge(db, now + timedelta(minutes=11))
    assert not revocations.is_revoked(db, key)


def test_keys_are_hashes_of_purpose_and_id() -> None:
    one = revocations.key("web-session", "abc")
    assert len(one) == 64
    assert "abc" not in one
    assert one != revocations.key("web-mfa", "abc")
