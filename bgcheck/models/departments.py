from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from bgcheck.models.base import UTCDateTime, new_id, utcnow


class Department(SQLModel, table=True):
    """A hiring department; HR partners act only on their departments' cases."""

    __tablename__ = "departments"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
