"""One-time links for staff: a new account sets its own password through one.

An administrator never chooses another person's password (docs/identity.md): a new
account, or one whose password must be replaced, gets a link instead. Like candidates'
links, a link's token is 256 random bits and only its SHA-256 is stored; a new link
revokes the one before, and a link works once and for ``LIFETIME``. A link can always be
issued again, so none is shown only once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Final

from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.identity import link_tokens
from bgcheck.identity.passwords import WeakPassword, hash_password
from bgcheck.models import AccountLink, AccountLinkPurpose, User
from bgcheck.platform.errors import InvalidInput, NotFound

LIFETIME: Final = timedelta(hours=72)
INVALID: Final = (
    "this link is invalid, was used already, was replaced by a newer one, or has expired; "
    "ask an administrator for a new one"
)
PATH: Final = "/set-password/"  # the page that takes the link, under BGCHECK_PUBLIC_URL


def issue(
    session: Session, actor: audit.AuditActor, *, user_id: uuid.UUID, now: datetime
) -> tuple[AccountLink, str]:
    """A new set-password link for ``user_id`` (the older ones stop working) and its token."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    _revoke_open(session, user_id, now)
    token = link_tokens.new_token()
    link = AccountLink(
        user_id=user_id,
        purpose=AccountLinkPurpose.SET_PASSWORD,
        token_hash=link_tokens.token_hash(token),
        created_by=uuid.UUID(actor.id) if actor.kind == "user" and actor.id else None,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(link)
    session.flush()
    audit.record(
        session,
        actor,
        action="user.password_link_issued",
        target=audit.Target.of("user", user_id),
        data={"expires_at": link.expires_at.isoformat()},
        now=now,
    )
    return link, token


def resolve(session: Session, token: str, *, now: datetime) -> tuple[AccountLink, User]:
    """The live link for ``token`` and its account; NotFound (one message) otherwise."""
    if not link_tokens.well_formed(token):
        raise NotFound(INVALID)
    link = session.exec(
        select(AccountLink).where(AccountLink.token_hash == link_tokens.token_hash(token))
    ).first()
    if (
        link is None
        or link.used_at is not None
        or link.revoked_at is not None
        or link.expires_at <= now
    ):
        raise NotFound(INVALID)
    user = session.get(User, link.user_id)
    if user is None or not user.is_active:
        raise NotFound(INVALID)
    return link, user


def set_password(session: Session, token: str, *, password: str, now: datetime) -> User:
    """The link's owner sets their password; the link is used up."""
    link, user = resolve(session, token, now=now)
    try:
        user.password_hash = hash_password(password, email=user.email)
    except WeakPassword as exc:
        raise InvalidInput(str(exc)) from None
    user.password_set_at = user.updated_at = now
    link.used_at = now
    session.add_all([user, link])
    _revoke_open(session, user.id, now)
    audit.record(
        session,
        audit.AuditActor.user(user.id),
        action="user.password_set",
        target=audit.Target.of("user", user.id),
        data={"link": str(link.id)},
        now=now,
    )
    return user


def _revoke_open(session: Session, user_id: uuid.UUID, now: datetime) -> None:
    for old in session.exec(
        select(AccountLink).where(
            AccountLink.user_id == user_id,
            col(AccountLink.used_at).is_(None),
            col(AccountLink.revoked_at).is_(None),
        )
    ):
        old.revoked_at = now
        session.add(old)
