"""Who is acting: a staff user as loaded from the database on every request.

Roles and departments are read fresh each time (never trusted from a token), so a role
removed or an account disabled takes effect on the very next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from bgcheck import audit
from bgcheck.models import Department, User, UserDepartment, UserRole
from workflow import ActorView, Role


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID
    email: str
    display_name: str
    roles: frozenset[Role]
    department_ids: frozenset[uuid.UUID] = frozenset()
    department_codes: frozenset[str] = frozenset()
    # Blind indexes of the SSN and family name + date of birth the user declared, if any
    # (``policy.Identity``: nobody is shown their own background check).
    ssn_index: str | None = field(default=None, compare=False)
    name_dob_index: str | None = field(default=None, compare=False)
    # The access token this request came with (for logout), when it is one of ours.
    token_id: str | None = field(default=None, compare=False)
    token_expires_at: datetime | None = field(default=None, compare=False)

    @property
    def audit_actor(self) -> audit.AuditActor:
        return audit.AuditActor.user(self.user_id)

    def view(self) -> ActorView:
        """What the workflow may know of this actor."""
        return ActorView(
            id=str(self.user_id),
            email=self.email,
            roles=self.roles,
            departments=self.department_codes,
        )

    def has(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)


def load_actor(
    session: Session,
    user_id: uuid.UUID,
    *,
    token_id: str | None = None,
    token_expires_at: datetime | None = None,
) -> Actor | None:
    """The active user's current roles and departments; None when missing or disabled."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    roles = session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).all()
    departments = session.exec(
        select(Department.id, Department.code)
        .join(UserDepartment, col(UserDepartment.department_id) == col(Department.id))
        .where(UserDepartment.user_id == user_id)
    ).all()
    return Actor(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=frozenset(Role(role) for role in roles),
        department_ids=frozenset(department_id for department_id, _ in departments),
        department_codes=frozenset(code for _, code in departments),
        ssn_index=user.ssn_index,
        name_dob_index=user.name_dob_index,
        token_id=token_id,
        token_expires_at=token_expires_at,
    )
