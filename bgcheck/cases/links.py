"""Links sent to candidates, who have no account: random, expiring, stored only as a hash.

A link's token is 256 random bits in URL-safe base64; the database keeps its SHA-256, so
a copy of the database (or a backup) cannot be used to act as a candidate. Each link has
one purpose; issuing a new one for the same case and purpose revokes the old one, and a
link is used up by the one action it exists for (``consume``), while reading stays open.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Final

from sqlmodel import Session, col, select

from bgcheck.identity.link_tokens import new_token, token_hash, well_formed
from bgcheck.models import CandidateLink, LinkPurpose
from bgcheck.platform.errors import NotFound
from bgcheck.platform.settings import Settings

INVALID: Final = "this link is invalid, was replaced by a newer one, or has expired"


def portal_url(settings: Settings, token: str) -> str:
    """The address a candidate opens: the same in the e-mail, on the page and in the API."""
    return f"{settings.public_url.rstrip('/')}/portal/{token}"


def issue(
    session: Session,
    *,
    case_id: uuid.UUID,
    purpose: LinkPurpose,
    now: datetime,
    lifetime: timedelta,
) -> tuple[CandidateLink, str]:
    """A new link (and its token, which is shown once and never stored)."""
    for old in session.exec(
        select(CandidateLink).where(
            CandidateLink.case_id == case_id,
            CandidateLink.purpose == purpose,
            col(CandidateLink.revoked_at).is_(None),
        )
    ):
        old.revoked_at = now
        session.add(old)
    token = new_token()
    link = CandidateLink(
        case_id=case_id,
        purpose=purpose,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(link)
    session.flush()
    return link, token


def resolve(session: Session, token: str, *, now: datetime) -> CandidateLink:
    """The live link for ``token``; NotFound (one message for every reason) otherwise."""
    if not well_formed(token):
        raise NotFound(INVALID)
    link = session.exec(
        select(CandidateLink).where(CandidateLink.token_hash == token_hash(token))
    ).first()
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        raise NotFound(INVALID)
    return link


def consume(session: Session, link: CandidateLink, *, now: datetime) -> None:
    """Use the link up; a second use is refused like an unknown link."""
    if link.used_at is not None:
        raise NotFound(INVALID)
    link.used_at = now
    session.add(link)
    session.flush()


def revoke_all(session: Session, *, case_id: uuid.UUID, now: datetime) -> None:
    """Close every open link of a case (it was cancelled, expired or decided)."""
    for link in session.exec(
        select(CandidateLink).where(
            CandidateLink.case_id == case_id, col(CandidateLink.revoked_at).is_(None)
        )
    ):
        link.revoked_at = now
        session.add(link)
