"""Who may do what: the one place that answers "may this actor do this, to this object?".

A role grants actions (``GRANTS``); a case narrows them (``in_scope``): an hr user acts
only on their departments' cases, and nobody acts on a case whose candidate is
themselves. Which workflow events a role may fire lives in the transition table
(``workflow.table``); the case scope below applies to those too.

Out-of-scope objects are reported as "not found", never "forbidden", so ids cannot be
probed (``require_case``).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bgcheck.actors import Actor
from bgcheck.errors import Forbidden, NotFound
from workflow import Role


class Action(StrEnum):
    MANAGE_USERS = "manage_users"
    MANAGE_KEYS = "manage_keys"
    READ_NEED_TO_KNOW = "read_need_to_know"
    CREATE_CASE = "create_case"
    READ_CASE = "read_case"
    SEARCH_CASES = "search_cases"
    READ_CASE_CONTACT = "read_case_contact"  # candidate name, email, SSN last 4
    REVEAL_PII = "reveal_pii"  # full PII, audited
    READ_REPORT = "read_report"  # the vendor report, audited
    EXPORT_AUDIT = "export_audit"
    VERIFY_AUDIT = "verify_audit"
    READ_DISSEMINATION_LOG = "read_dissemination_log"
    RUN_RETENTION = "run_retention"
    MANAGE_JOBS = "manage_jobs"  # the outbox: see dead jobs, send them back


_REVIEW: Final = frozenset(
    {
        Action.READ_CASE,
        Action.SEARCH_CASES,
        Action.READ_CASE_CONTACT,
        Action.REVEAL_PII,
        Action.READ_REPORT,
    }
)

GRANTS: Final[Mapping[Role, frozenset[Action]]] = {
    Role.HR: frozenset(
        {Action.CREATE_CASE, Action.READ_CASE, Action.SEARCH_CASES, Action.READ_CASE_CONTACT}
    ),
    Role.REVIEWER: _REVIEW,
    # Issue 7: "auditors and managers export"; a manager who may export may as well
    # verify online what they could verify offline with the public key.
    Role.MANAGER: _REVIEW
    | {
        Action.READ_NEED_TO_KNOW,
        Action.READ_DISSEMINATION_LOG,
        Action.RUN_RETENTION,
        Action.EXPORT_AUDIT,
        Action.VERIFY_AUDIT,
    },
    Role.AUDITOR: frozenset(
        {
            Action.READ_CASE,
            Action.READ_NEED_TO_KNOW,
            Action.EXPORT_AUDIT,
            Action.VERIFY_AUDIT,
            Action.READ_DISSEMINATION_LOG,
        }
    ),
    # Administrators manage people and keys; they never read PII or reports.
    Role.ADMIN: frozenset({Action.MANAGE_USERS, Action.MANAGE_KEYS, Action.MANAGE_JOBS}),
}

# Roles whose case access is limited to their own departments.
DEPARTMENT_SCOPED: Final = frozenset({Role.HR})

# The roles that may request, receive or review criminal records (CORI need-to-know).
CORI_ROLES: Final = frozenset({Role.HR, Role.REVIEWER, Role.MANAGER})


@dataclass(frozen=True, slots=True)
class CaseScope:
    """What the policy needs to know about a case to scope it."""

    department_id: uuid.UUID
    # Blind index of the candidate's email (never the email itself), when known.
    candidate_email_index: str | None = None


def granted(actor: Actor, action: Action) -> frozenset[Role]:
    """The actor's roles that grant ``action`` (empty when none does)."""
    return frozenset(role for role in actor.roles if action in GRANTS.get(role, frozenset()))


def in_scope(
    actor: Actor, case: CaseScope, roles: frozenset[Role], *, actor_email_index: str | None
) -> bool:
    """Whether ``case`` is within reach of the actor acting through ``roles``."""
    if (
        actor_email_index is not None
        and case.candidate_email_index is not None
        and hmac.compare_digest(actor_email_index, case.candidate_email_index)
    ):
        return False  # nobody acts on, or reads, their own background check
    unscoped = roles - DEPARTMENT_SCOPED
    return bool(unscoped) or case.department_id in actor.department_ids


def may(
    actor: Actor,
    action: Action,
    case: CaseScope | None = None,
    *,
    actor_email_index: str | None = None,
) -> bool:
    roles = granted(actor, action)
    if not roles:
        return False
    return case is None or in_scope(actor, case, roles, actor_email_index=actor_email_index)


def require(actor: Actor, action: Action) -> None:
    """For actions on no particular object: 403 when no role grants it."""
    if not granted(actor, action):
        raise Forbidden("your roles do not allow this")


def require_case(
    actor: Actor, action: Action, case: CaseScope, *, actor_email_index: str | None = None
) -> None:
    """For actions on a case: "not found" when out of scope, so ids cannot be probed."""
    if not may(actor, action, case, actor_email_index=actor_email_index):
        if granted(actor, action):
            raise NotFound("no such case")
        # A role that may never do this learns nothing new from a 403.
        raise Forbidden("your roles do not allow this")
