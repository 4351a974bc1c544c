"""Second factors, four-eyes approvals, account links and rate counters (issue 15)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from bgcheck.models.base import UTCDateTime, enum_column, new_id, utcnow
from workflow.states import Role


class RecoveryCode(SQLModel, table=True):
    """A one-time recovery code of a user's second factor; only its hash is kept."""

    __tablename__ = "mfa_recovery_codes"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApprovalKind(enum.StrEnum):
    GRANT_ROLE = "grant_role"  # a role that reads PII (reviewer, manager)
    RESET_MFA = "reset_mfa"  # clear a user's second factor so they enroll again


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # the proposer took it back, or the role was removed meanwhile


class Approval(SQLModel, table=True):
    """A change one administrator proposes and a manager other than them approves."""

    __tablename__ = "approvals"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    kind: ApprovalKind = Field(sa_type=enum_column(ApprovalKind, "approval_kind"))
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    role: Role | None = Field(default=None, sa_type=enum_column(Role, "approval_role"))
    status: ApprovalStatus = Field(
        default=ApprovalStatus.PENDING,
        sa_type=enum_column(ApprovalStatus, "approval_status"),
        index=True,
    )
    proposed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    proposed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=500)


class AccountLinkPurpose(enum.StrEnum):
    SET_PASSWORD = "set_password"  # noqa: S105  (a purpose) a new account, or a password reset an admin started


class AccountLink(SQLModel, table=True):
    """A one-time link for a staff member (set a password); only its hash is stored."""

    __tablename__ = "account_links"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    purpose: AccountLinkPurpose = Field(
        sa_type=enum_column(AccountLinkPurpose, "account_link_purpose")
    )
    token_hash: str = Field(max_length=64, unique=True)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RateCounter(SQLModel, table=True):
    """How often something happened for one key (hashed) in the current window.

    Shared by every API process: searches per user, and anonymous audit noise (refused
    webhooks, throttled logins) folded into one event per window.
    """

    __tablename__ = "rate_counters"

    key: str = Field(primary_key=True, max_length=64)
    window_started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    count: int = 0
    # The count of the last window before this one (what a folded audit event reports).
    previous_count: int = 0
