from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bgcheck.models.base import UTCDateTime, utcnow


class VendorWebhook(SQLModel, table=True):
    """The inbox: every authenticated webhook delivery, once. A repeat id is a no-op.

    Holds no PII: the vendor's delivery id, its order reference and event type, and what
    bgcheck made of it (``outcome``).
    """

    __tablename__ = "vendor_webhooks"

    vendor: str = Field(primary_key=True, max_length=32)
    delivery_id: str = Field(primary_key=True, max_length=128)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    reference: str | None = Field(default=None, max_length=128)
    kind: str = Field(max_length=64)
    outcome: str = Field(max_length=32, description="queued, unknown_order")
