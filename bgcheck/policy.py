"""Who may do what: the one place that answers "may this actor do this, to this object?".

A role grants actions (``GRANTS``); a case narrows them (``in_scope``): an hr user acts
only on their departments' cases, and nobody acts on a case whose candidate is
themselves. Which workflow events a role may fire lives in the transition table
(``workflow.table``); the case scope below applies to those too.

Out-of-scope objects are reported as "not found", never "forbidden", so ids cannot be
probed (``require_case``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, overload

from bgcheck.crypto.blind_index import NOBODY_KNOWN as NOBODY_KNOWN
from bgcheck.crypto.blind_index import Identity as Identity
from bgcheck.identity.actors import Actor
from bgcheck.platform.errors import Forbidden, NotFound
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
    APPROVE_ACCESS = "approve_access"  # the second pair of eyes on a PII role or an MFA reset
    READ_APPROVALS = "read_approvals"  # what waits for that second pair of eyes
    # The embedded mailbox (demo mode): what bgcheck delivered locally, candidates' links in it.
    READ_MAILBOX = "read_mailbox"
    RESEND_NOTICE = "resend_notice"  # a new link to an adverse-action notice, the old revoked


_REVIEW: Final = frozenset(
    {
        Action.READ_CASE,
        Action.SEARCH_CASES,
        Action.READ_CASE_CONTACT,
        Action.REVEAL_PII,
        Action.READ_REPORT,
        Action.RESEND_NOTICE,
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
        Action.APPROVE_ACCESS,
        Action.READ_APPROVALS,
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
    Role.ADMIN: frozenset(
        {
            Action.MANAGE_USERS,
            Action.MANAGE_KEYS,
            Action.MANAGE_JOBS,
            Action.READ_APPROVALS,
            Action.READ_MAILBOX,
        }
    ),
}

# Roles that read full PII or reports: granted only with a manager's approval
# (bgcheck.identity.approvals), and never held together with hr (separation of duties).
PII_ROLES: Final = frozenset(
    role for role, actions in GRANTS.items() if actions & {Action.REVEAL_PII, Action.READ_REPORT}
)

# Roles whose case access is limited to their own departments.
DEPARTMENT_SCOPED: Final = frozenset({Role.HR})

# The roles that may request, receive or review criminal records (CORI need-to-know).
CORI_ROLES: Final = frozenset({Role.HR, Role.REVIEWER, Role.MANAGER})


@dataclass(frozen=True, slots=True)
class CaseScope:
    """What the policy needs to know about a case to scope it."""

    department_id: uuid.UUID
    candidate: Identity = NOBODY_KNOWN


def granted(actor: Actor, action: Action) -> frozenset[Role]:
    """The actor's roles that grant ``action`` (empty when none does)."""
    return frozenset(role for role in actor.roles if action in GRANTS.get(role, frozenset()))


def department_scoped(roles: frozenset[Role]) -> bool:
    """Whether acting through ``roles`` (those granting one action) reaches only the
    actor's own departments' cases: when no role beyond hr grants it.

    The one statement of the department rule: ``in_scope`` applies it to one case in
    Python, ``bgcheck.cases.queries.visible_cases`` to every case in SQL.
    """
    return roles <= DEPARTMENT_SCOPED


def in_scope(actor: Actor, case: CaseScope, roles: frozenset[Role], *, identity: Identity) -> bool:
    """Whether ``case`` is within reach of the actor (whose ``identity`` this is) acting
    through ``roles``: not their own case, and in their departments when
    ``department_scoped``. ``visible_cases`` is the same rule in SQL (tests/bgcheck/
    test_scope.py checks that they agree)."""
    if identity.same_person(case.candidate):
        return False  # nobody acts on, or reads, their own background check
    return not department_scoped(roles) or case.department_id in actor.department_ids


@overload
def may(actor: Actor, action: Action, case: None = None) -> bool: ...
@overload
def may(actor: Actor, action: Action, case: CaseScope, *, identity: Identity) -> bool: ...
def may(
    actor: Actor,
    action: Action,
    case: CaseScope | None = None,
    *,
    identity: Identity | None = None,
) -> bool:
    """Whether a role of the actor grants ``action`` (on ``case``, when one is given).

    With a case, ``identity`` is required, by the type checker (the overloads) and at run
    time, whatever the roles: the own-case rule is never skipped by leaving it out.
    """
    roles = granted(actor, action)
    if case is None:
        return bool(roles)
    if identity is None:
        raise TypeError("may() on a case needs the actor's identity (the own-case rule)")
    return bool(roles) and in_scope(actor, case, roles, identity=identity)


def require(actor: Actor, action: Action) -> None:
    """For actions on no particular object: 403 when no role grants it."""
    if not granted(actor, action):
        raise Forbidden("your roles do not allow this")


def require_case(actor: Actor, action: Action, case: CaseScope, *, identity: Identity) -> None:
    """For actions on a case: "not found" when out of scope, so ids cannot be probed."""
    if not may(actor, action, case, identity=identity):
        if granted(actor, action):
            raise NotFound("no such case")
        # A role that may never do this learns nothing new from a 403.
        raise Forbidden("your roles do not allow this")
