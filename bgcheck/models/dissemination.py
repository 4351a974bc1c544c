from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from bgcheck.models.base import UTCDateTime, new_id, utcnow


class Dissemination(SQLModel, table=True):
    """One release of CORI (a criminal-record report or a notice quoting it) to someone.

    Massachusetts (803 CMR 2.00) asks for a secondary dissemination log: whose record,
    when, to whom, their relationship, why, and who released it. No PII: the subject is
    the case id; the recipient is a user id or "candidate".
    """

    __tablename__ = "cori_disseminations"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="cases.id", index=True)
    released_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    recipient: str = Field(max_length=64, description="A user id, or `candidate`.")
    relationship: str = Field(max_length=64)
    purpose: str = Field(max_length=200)
    released_by: str = Field(max_length=64, description="A user id, or `system`.")
    what: str = Field(max_length=32, description="report, pre_adverse_notice, final_notice…")
