"""Listing cases a caller may see: filters, exact-match search, keyset (cursor) pages."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bgcheck import policy
from bgcheck.actors import Actor
from bgcheck.errors import InvalidInput
from bgcheck.models import Candidate, Case, Department
from bgcheck.pii import Vault
from workflow import State

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class CaseFilter:
    state: State | None = None
    department: str | None = None
    assigned_to: uuid.UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    q: str | None = None
    oldest_first: bool = False


def list_cases(
    session: Session,
    vault: Vault,
    actor: Actor,
    filters: CaseFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[Sequence[Case], str | None]:
    """One page of the cases the actor may read, and the cursor of the next page."""
    if not policy.granted(actor, policy.Action.READ_CASE):
        return [], None
    limit = max(1, min(limit, MAX_PAGE))
    statement = select(Case)
    if policy.granted(actor, policy.Action.READ_CASE) <= policy.DEPARTMENT_SCOPED:
        statement = statement.where(col(Case.department_id).in_(actor.department_ids))
    if filters.state is not None:
        statement = statement.where(Case.state == filters.state)
    if filters.department:
        statement = statement.join(Department, col(Department.id) == col(Case.department_id)).where(
            Department.code == filters.department.strip().upper()
        )
    if filters.assigned_to is not None:
        statement = statement.where(Case.assigned_to == filters.assigned_to)
    if filters.created_after is not None:
        statement = statement.where(col(Case.created_at) >= filters.created_after)
    if filters.created_before is not None:
        statement = statement.where(col(Case.created_at) < filters.created_before)
    if filters.q:
        if not policy.granted(actor, policy.Action.SEARCH_CASES):
            return [], None
        indexes = vault.search_indexes(filters.q)
        if not indexes:
            raise InvalidInput("q: search by a full email, a 9-digit SSN, or 'Family YYYY-MM-DD'")
        statement = statement.join(Candidate, col(Candidate.case_id) == col(Case.id))
        for column, value in indexes.items():
            statement = statement.where(getattr(Candidate, column) == value)
    own_index = vault.actor_email_index(actor.email)
    if own_index is not None:
        # Nobody sees their own background check, not even in a list.
        own = select(Candidate.case_id).where(Candidate.email_index == own_index)
        statement = statement.where(col(Case.id).not_in(own))

    order = (col(Case.created_at), col(Case.id))
    if cursor:
        created_at, case_id = _decode(cursor)
        if filters.oldest_first:
            statement = statement.where(
                (col(Case.created_at) > created_at)
                | ((col(Case.created_at) == created_at) & (col(Case.id) > case_id))
            )
        else:
            statement = statement.where(
                (col(Case.created_at) < created_at)
                | ((col(Case.created_at) == created_at) & (col(Case.id) < case_id))
            )
    statement = statement.order_by(
        *(o.asc() if filters.oldest_first else o.desc() for o in order)
    ).limit(limit + 1)
    rows = session.exec(statement).all()
    next_cursor = _encode(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def preload(session: Session, cases: Sequence[Case]) -> list[object]:
    """Load the cases' candidates and departments in two queries, and return them.

    Keep the list until the cases are rendered. The session's identity map holds only
    rows something references, and rendering a case reads its candidate (scope, view) and
    department again: for a page of 50, 208 statements without this, 9 with it
    (bench/results/profile-list-cases-*.txt).
    """
    if not cases:
        return []
    ids = [case.id for case in cases]
    departments = {case.department_id for case in cases}
    return [
        *session.exec(select(Candidate).where(col(Candidate.case_id).in_(ids))).all(),
        *session.exec(select(Department).where(col(Department.id).in_(departments))).all(),
    ]


def _encode(case: Case) -> str:
    raw = json.dumps([case.created_at.isoformat(), str(case.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, case_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError
        return moment, uuid.UUID(case_id)
    except (ValueError, TypeError):
        raise InvalidInput("cursor: not a cursor this API gave out") from None
