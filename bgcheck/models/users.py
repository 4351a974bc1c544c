from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bgcheck.models.base import UTCDateTime, enum_column, new_id, utcnow
from workflow.states import Role


class User(SQLModel, table=True):
    """A staff account. Candidates and vendors have none."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # Stored lower-cased, so the unique index is case-insensitive on every database.
    email: str = Field(max_length=320, unique=True, index=True)
    display_name: str = Field(max_length=200)
    password_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The second factor (TOTP, RFC 6238): the secret sealed (bgcheck.identity.mfa), when it was
    # enrolled, and the last time step accepted, so a code is never accepted twice.
    totp_secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    totp_enrolled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    password_set_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Blind indexes of the user's own SSN and family name + date of birth, when they gave
    # them: nobody is shown their own background check (bgcheck.policy). Never the values.
    ssn_index: str | None = Field(default=None, max_length=64)
    name_dob_index: str | None = Field(default=None, max_length=64)


class UserRole(SQLModel, table=True):
    __tablename__ = "user_roles"

    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    role: Role = Field(primary_key=True, sa_type=enum_column(Role, "role"))


class UserDepartment(SQLModel, table=True):
    __tablename__ = "user_departments"

    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    department_id: uuid.UUID = Field(foreign_key="departments.id", primary_key=True)
