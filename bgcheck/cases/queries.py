"""The cases a caller may see (``visible_cases``, the one scope query) and pages of them:
filters, an exact-match key, keyset (cursor) pages."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import false, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bgcheck import policy
from bgcheck.identity.actors import Actor
from bgcheck.models import Candidate, Case, Department
from bgcheck.platform.errors import InvalidInput
from bgcheck.policy import Identity
from bgcheck.vault.store import Vault
from workflow import State

MAX_PAGE = 100


class SearchBy(StrEnum):
    """The kinds of exact-match search key; each needs the right to read its value in full."""

    EMAIL = "email"
    SSN = "ssn"
    NAME_DOB = "name_dob"  # family name and date of birth together


# The candidate column each kind is matched against (a blind index).
SEARCH_COLUMNS: Final = {
    SearchBy.EMAIL: Candidate.email_index,
    SearchBy.SSN: Candidate.ssn_index,
    SearchBy.NAME_DOB: Candidate.name_dob_index,
}


@dataclass(frozen=True, slots=True)
class SearchKey:
    """A search key as its blind index: the value itself never reaches a query."""

    by: SearchBy
    index: str


@dataclass(frozen=True, slots=True)
class CaseFilter:
    state: State | None = None
    department: str | None = None
    assigned_to: uuid.UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    key: SearchKey | None = None
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
    statement = visible_cases(actor, identity=vault.actor_identity(actor))
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
    if filters.key is not None:
        statement = statement.join(Candidate, col(Candidate.case_id) == col(Case.id)).where(
            col(SEARCH_COLUMNS[filters.key.by]) == filters.key.index
        )

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


def visible_cases(
    actor: Actor, *, identity: Identity, action: policy.Action = policy.Action.READ_CASE
) -> SelectOfScalar[Case]:
    """The cases ``actor`` (whose ``identity`` this is) may reach for ``action``, as a
    statement to narrow further: ``policy.may`` on every case at once, in SQL.

    No role granting the action: no case. Department-scoped (``policy.department_scoped``):
    only the actor's departments' cases. Never the actor's own case, not even in a list.
    """
    roles = policy.granted(actor, action)
    statement = select(Case)
    if not roles:
        return statement.where(false())
    if policy.department_scoped(roles):
        statement = statement.where(col(Case.department_id).in_(actor.department_ids))
    if (own := own_cases(identity)) is not None:
        statement = statement.where(col(Case.id).not_in(own))
    return statement


def own_cases(identity: Identity) -> SelectOfScalar[uuid.UUID] | None:
    """The ids of the cases whose candidate is this person (``Identity.same_person`` in
    SQL), or None when nothing about them is known."""
    known = [
        col(column) == value
        for column, value in (
            (Candidate.email_index, identity.email),
            (Candidate.mailbox_index, identity.mailbox),
            (Candidate.ssn_index, identity.ssn),
            (Candidate.name_dob_index, identity.name_dob),
        )
        if value is not None
    ]
    return select(Candidate.case_id).where(or_(*known)) if known else None


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


def visible_departments(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """(code, name) of the departments whose cases ``actor`` sees, by code: the request
    form's choices and the list filter's."""
    rows = session.exec(select(Department.code, Department.name).order_by(Department.code)).all()
    if policy.department_scoped(policy.granted(actor, policy.Action.READ_CASE)):
        return [(code, name) for code, name in rows if code in actor.department_codes]
    return list(rows)
