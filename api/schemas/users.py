"""Request and response bodies for accounts, departments and sign-in."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bgcheck.identity.users import UserDetails

StaffRole = Literal["hr", "reviewer", "manager", "auditor", "admin"]
DepartmentCode = Field(pattern=r"^[A-Za-z0-9_-]{2,32}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(Strict):
    """A new account. Roles that read PII (reviewer, manager) wait for a manager's
    approval; the person sets their own password through the link in the answer."""

    email: str = Field(min_length=3, max_length=320)
    display_name: str = Field(default="", max_length=200)
    roles: list[StaffRole] = Field(min_length=1)
    departments: list[str] = Field(default_factory=list, max_length=50)
    password: str | None = Field(
        default=None,
        max_length=256,
        description="Refused: nobody chooses another person's password (see set_password_url).",
        json_schema_extra={"deprecated": True},
    )


class RolesUpdate(Strict):
    roles: list[StaffRole] = Field(min_length=1)


class DepartmentsUpdate(Strict):
    departments: list[str] = Field(max_length=50)


class UserRead(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    roles: list[StaffRole]
    pending_roles: list[StaffRole] = Field(
        description="Proposed roles that read PII, waiting for a manager's approval; they "
        "grant nothing yet."
    )
    departments: list[str]
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, details: UserDetails) -> UserRead:
        user = details.user
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            roles=sorted(details.roles),  # type: ignore[arg-type]
            pending_roles=sorted(details.pending_roles),  # type: ignore[arg-type]
            departments=sorted(details.departments),
            is_active=user.is_active,
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login_at=user.last_login_at,
        )


class PasswordLink(BaseModel):
    """A one-time link for the person to set their own password; issue a new one at any
    time (the older stops working)."""

    set_password_url: str
    expires_at: datetime


class UserCreated(UserRead):
    set_password_url: str = Field(description="Give this link to the person, not to anyone else.")
    set_password_expires_at: datetime


class ApprovalRead(BaseModel):
    id: uuid.UUID
    kind: Literal["grant_role", "reset_mfa"]
    user_id: uuid.UUID
    user_email: str
    role: StaffRole | None
    status: Literal["pending", "approved", "rejected", "withdrawn"]
    proposed_by: uuid.UUID | None
    proposed_at: datetime
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    reason: str | None


class Rejection(Strict):
    reason: str = Field(min_length=1, max_length=500)


class OwnIdentity(Strict):
    """Who you are, so that your own background check never reaches you. Kept only as
    blind indexes (keyed hashes): nobody can read the values back."""

    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    ssn: str | None = Field(default=None, max_length=11, description="Optional; 9 digits.")


class DepartmentCreate(Strict):
    code: str = DepartmentCode
    name: str = Field(min_length=1, max_length=200)


class DepartmentRead(BaseModel):
    id: uuid.UUID
    code: str
    name: str


class Me(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    roles: list[StaffRole]
    departments: list[str]


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (the OAuth2 token type)
    expires_in: int = Field(description="Seconds until the token expires.")


class AccessPeriodRead(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str
    roles: list[str]
    granted_at: datetime
    revoked_at: datetime | None = Field(description="None while the access is current.")
