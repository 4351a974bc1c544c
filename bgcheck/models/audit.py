from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from bgcheck.models.base import UTCDateTime, new_id

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class AuditEvent(SQLModel, table=True):
    """One link of the append-only, hash-chained audit trail (see ``bgcheck.audit``)."""

    __tablename__ = "audit_events"

    seq: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_kind: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=64, index=True)
    action: str = Field(max_length=64, index=True)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64, index=True)
    request_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    # ``data`` as the exact canonical JSON text the hash covers (NULL for events recorded
    # before migration 0008). Verification checks that the two agree; the PostgreSQL
    # export writes this text instead of re-encoding ``data`` (bgcheck.audit.pgstream).
    canonical_data: str | None = Field(default=None, sa_type=sa.Text)
    # A unique predecessor: two writers can never both extend the same link.
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64, unique=True)


class AuditChainHead(SQLModel, table=True):
    """The single row that serializes appends: locked FOR UPDATE by each writer."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_type=sa.BigInteger)
    hash: str = Field(max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    """A signed statement that the chain reached ``hash`` at ``seq`` at ``signed_at``.

    Append-only like the events (database triggers refuse UPDATE and DELETE). ``seq`` has
    no foreign key to ``audit_events``: archiving removes old events but keeps the
    checkpoint at the archive boundary, which then anchors the rest of the chain.
    The signed bytes are documented in ``bgcheck.audit.signatures``.
    """

    __tablename__ = "audit_checkpoints"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    seq: int = Field(sa_type=sa.BigInteger, unique=True)
    hash: str = Field(max_length=64)
    signed_at: datetime = Field(sa_type=UTCDateTime)
    # SHA-256 (hex) of the raw Ed25519 public key: which key to verify with.
    key_id: str = Field(max_length=64)
    # Ed25519 signature, hex (64 bytes).
    signature: str = Field(max_length=128)
