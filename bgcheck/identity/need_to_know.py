"""The CORI need-to-know list: who may request, receive or review criminal records, and when.

Massachusetts CORI rules (803 CMR 2.00) ask for a current list of the staff with access.
Access is derived from roles (``policy.CORI_ROLES``) and its history from the audit trail:
each period a person held such a role on an active account is one row, with the dates it
began and (if it did) ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from bgcheck.models import AuditEvent, User, table_of
from bgcheck.policy import CORI_ROLES

ACCESS_ACTIONS = ("user.created", "user.roles_changed", "user.disabled", "user.enabled")


@dataclass(frozen=True, slots=True)
class AccessPeriod:
    user_id: uuid.UUID
    email: str
    display_name: str
    roles: tuple[str, ...]
    granted_at: datetime
    revoked_at: datetime | None


@dataclass
class _State:
    roles: frozenset[str] = frozenset()
    active: bool = True
    since: datetime | None = None
    held: set[str] = field(default_factory=set)

    @property
    def has_access(self) -> bool:
        return self.active and bool(self.roles & CORI_ROLES)


def access_periods(session: Session) -> list[AccessPeriod]:
    """Every period of CORI access, current ones last-ended first (``revoked_at`` None)."""
    users = {user.id: user for user in session.exec(select(User)).all()}
    periods: list[AccessPeriod] = []
    states: dict[uuid.UUID, _State] = {}
    for user_id, action, occurred_at, data in _access_events(session):
        state = states.setdefault(user_id, _State())
        had = state.has_access
        if action in ("user.created", "user.enabled", "user.disabled"):
            state.active = action != "user.disabled"
            state.roles = frozenset(data.get("roles", state.roles))
        else:
            state.roles = frozenset(data.get("after", ()))
        if state.has_access:
            state.held |= state.roles & CORI_ROLES
        if state.has_access and not had:
            state.since = occurred_at
        elif had and not state.has_access and state.since is not None:
            periods.append(_period(users.get(user_id), user_id, state, occurred_at))
            state.since, state.held = None, set()
    for user_id, state in states.items():
        if state.has_access and state.since is not None:
            periods.append(_period(users.get(user_id), user_id, state, None))
    return sorted(periods, key=lambda p: (p.email, p.granted_at))


def _access_events(session: Session) -> Iterator[tuple[uuid.UUID, str, datetime, dict[str, Any]]]:
    table = table_of(AuditEvent)
    rows = session.execute(
        sa.select(table.c.target_id, table.c.action, table.c.occurred_at, table.c.data)
        .where(table.c.action.in_(ACCESS_ACTIONS), table.c.target_type == "user")
        .order_by(table.c.seq)
    )
    # Table columns keep their types: occurred_at comes back as an aware UTC datetime.
    for target_id, action, occurred_at, data in rows:
        yield uuid.UUID(target_id), action, occurred_at, data or {}


def _period(
    user: User | None, user_id: uuid.UUID, state: _State, until: datetime | None
) -> AccessPeriod:
    assert state.since is not None
    return AccessPeriod(
        user_id=user_id,
        email=user.email if user else "(deleted)",
        display_name=user.display_name if user else "(deleted)",
        roles=tuple(sorted(state.held)),
        granted_at=state.since,
        revoked_at=until,
    )
