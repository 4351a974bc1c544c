"""What the workflow is allowed to know: a case, an actor and the configured rules.

The service builds these from its rows and settings. They are frozen and hold no PII
beyond the candidate's email (needed for the "not your own case" rule), so a decision can
be computed, logged and tested without a database.
"""

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from workflow.states import Role, State


def _require_aware(owner: Any) -> None:
    for field in fields(owner):
        value = getattr(owner, field.name)
        if isinstance(value, datetime) and value.utcoffset() is None:
            raise ValueError(f"{type(owner).__name__}.{field.name} must be timezone-aware")


def _require_optional_str(owner: object, *names: str) -> None:
    # A UUID compared with its string form is never equal: for separation of duties that
    # would silently let the proposer approve. Identifiers are strings, always.
    for name in names:
        value = getattr(owner, name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{type(owner).__name__}.{name} must be a str (use str(user.id))")


@dataclass(frozen=True, kw_only=True)
class CaseView:
    """The facts about one case that the guards read."""

    state: State
    department: str
    candidate_email: str | None = None
    invitation_expires_at: datetime | None = None
    consent_at: datetime | None = None  # when the CORI acknowledgement was signed
    identity_verified_at: datetime | None = None
    assigned_to: str | None = None  # user id
    proposed_by: str | None = None  # user id of the adverse-action proposer
    adverse_deadline: datetime | None = None  # end of the pre-adverse waiting period
    open_dispute: bool = False  # a dispute is open (ours, or reported by the vendor)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", State(self.state))
        _require_aware(self)
        _require_optional_str(self, "assigned_to", "proposed_by")


@dataclass(frozen=True)
class ActorView:
    """Who fires an event: a user, or the candidate, vendor or scheduler acting as a role.

    ``id`` is a string (``str(user.id)``); the candidate, vendor and system actors get a
    synthetic id such as ``"candidate"`` or ``"vendor:sandbox"``.
    """

    id: str
    email: str | None
    roles: frozenset[Role]
    departments: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Accept any iterable of roles or role names; keep frozensets of enum members.
        object.__setattr__(self, "roles", frozenset(Role(role) for role in self.roles))
        object.__setattr__(self, "departments", frozenset(self.departments))
        _require_optional_str(self, "id", "email")
        if not self.id:
            raise ValueError("ActorView.id must not be empty")


@dataclass(frozen=True, kw_only=True)
class Rules:
    """The configured numbers and versions the guards measure against."""

    consent_ttl_days: int = 14
    adverse_wait_business_days: int = 5
    # The FCRA disclosure version the portal shows now; None accepts any version (tests).
    disclosure_version: str | None = None

    def __post_init__(self) -> None:
        if self.consent_ttl_days < 1:
            raise ValueError("consent_ttl_days must be at least 1")
        if self.adverse_wait_business_days < 0:
            raise ValueError("adverse_wait_business_days must not be negative")


DEFAULT_RULES: Final = Rules()
