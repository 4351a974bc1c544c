"""Case bodies and answers. ``CaseRead`` lists its fields and never holds sealed PII.

What a caller sees of a case is decided in ``bgcheck.cases.views`` (``CaseSeen``):
hr, reviewers and managers see the candidate's name and email; auditors and
administrators none. The full PII is its own audited endpoint (``GET /cases/{id}/pii``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from bgcheck.cases.views import CaseSeen, SeenPage
from bgcheck.vendors.report import Report
from workflow import Event, State


class CandidateContact(BaseModel):
    given_name: str | None
    family_name: str | None
    email: str | None
    ssn_masked: str | None = Field(
        default=None,
        description="The SSN's last four digits as `***-**-6789`, once the candidate consented.",
        examples=["***-**-6789"],
    )


class CaseRead(BaseModel):
    id: uuid.UUID
    department: str
    position_title: str
    package: str
    state: State
    version: int
    created_at: datetime
    updated_at: datetime
    assigned_to: uuid.UUID | None
    invitation_expires_at: datetime | None
    adverse_deadline: datetime | None
    ready_to_finalize: bool
    open_dispute: bool
    vendor_status: str | None
    vendor_result: str | None = Field(description="Only for reviewers and managers.")
    candidate: CandidateContact | None = Field(description="None for auditors and admins.")
    allowed_events: list[Event] = Field(description="What you may fire on this case now.")

    @classmethod
    def of(cls, seen: CaseSeen) -> Self:
        return cls.model_validate(seen, from_attributes=True)


class CaseCreated(CaseRead):
    pass


class EventResult(CaseRead):
    invitation_url: str | None = Field(
        default=None, description="With `invite`: the link to send to the candidate."
    )
    notice_url: str | None = Field(
        default=None,
        description="With `approve_adverse` and `finalize_adverse`: the candidate's link to "
        "the notice (and, before the deadline, the dispute form), to send to them.",
    )

    @classmethod
    def of(cls, seen: CaseSeen, **links: str) -> Self:
        return cls.model_validate(seen, from_attributes=True).model_copy(update=links)


class NoticeLinkRead(BaseModel):
    """A new link to the candidate's notice; the previous link no longer works."""

    case_id: uuid.UUID
    notice: str = Field(description="`pre_adverse_notice` or `final_notice`.")
    notice_url: str = Field(description="The candidate's new link; send it to them.")
    expires_at: datetime
    emailed: bool = Field(
        description="Whether an e-mail with the new link was queued for the candidate; when "
        "false, send the link yourself."
    )


class CasePage(BaseModel):
    items: list[CaseRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")

    @classmethod
    def of(cls, seen: SeenPage) -> CasePage:
        return cls(items=[CaseRead.of(case) for case in seen.items], next_cursor=seen.next_cursor)


class CaseSearch(BaseModel):
    """One exact-match key: `email`, or `ssn`, or `family_name` with `date_of_birth`.

    hr may search by email only; reviewers and managers by any of the three.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"email": "pat@example.org"},
                {"ssn": "123-45-6789"},
                {"family_name": "Candidate", "date_of_birth": "1990-04-01"},
            ]
        },
    )

    email: str | None = Field(default=None, max_length=254)
    ssn: str | None = Field(default=None, max_length=11, description="9 digits, dashes allowed.")
    family_name: str | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None
    limit: int = Field(default=50, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class HistoryEntry(BaseModel):
    event: str
    from_state: str | None
    to_state: str | None
    actor_kind: str
    actor_id: str | None
    at: datetime


class RevealedPii(BaseModel):
    """The candidate's full PII: every call is an audit event naming the fields."""

    fields: dict[str, Any]


class PortalView(BaseModel):
    """What the candidate may do now through their link."""

    purpose: str
    organisation: str
    position_title: str
    state: State | None = Field(
        default=None,
        description="Where the case is; left out once a consent link was used, so a "
        "used link tells nothing of the case's progress or outcome.",
    )
    authorization_received: bool = Field(
        default=False, description="The consent link was used: the authorization arrived."
    )
    disclosure: dict[str, str] | None = None
    notices: list[dict[str, Any]] = Field(default_factory=list)
    dispute_deadline: datetime | None = None
    can_dispute: bool = False


class ReportRead(Report):
    """The vendor report (the latest, if a reinvestigation produced a newer one)."""

    versions: int = Field(description="How many reports the case has had (1 + reinvestigations).")
    assessments: list[dict[str, Any]] = Field(
        description="The individualized assessments of proposed adverse actions, oldest first."
    )
    disputes: list[dict[str, Any]] = Field(
        description="The candidate's dispute statements, oldest first."
    )
