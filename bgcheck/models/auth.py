from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from bgcheck.models.base import UTCDateTime, enum_column, new_id, utcnow


class RevokedToken(SQLModel, table=True):
    """An access token signed out before it expired; kept until it would have expired."""

    __tablename__ = "revoked_tokens"

    # SHA-256 of issuer and jti: provider tokens' ids are only unique per issuer.
    token_key: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    revoked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LoginThrottle(SQLModel, table=True):
    """Recent failed logins for one account or one client address (both keyed by hash)."""

    __tablename__ = "login_throttles"

    key: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    window_started_at: datetime = Field(sa_type=UTCDateTime)
    blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class LinkPurpose(enum.StrEnum):
    CONSENT = "consent"  # the invitation: disclosure, authorization, PII
    NOTICE = "notice"  # the pre-adverse notice: read the report, dispute


class CandidateLink(SQLModel, table=True):
    """A link sent to a candidate. Only the SHA-256 of its random token is stored."""

    __tablename__ = "candidate_links"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", index=True)
    purpose: LinkPurpose = Field(sa_type=enum_column(LinkPurpose, "link_purpose"))
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
