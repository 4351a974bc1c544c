"""Audit checkpoints, and triggers that make the audit tables append-only

Revision ID: 0002_audit
Revises: 132f7401e62f
Create Date: 2026-11-25 16:00:00.000000

The triggers refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on ``audit_events``
and ``audit_checkpoints`` for every role, the owner included, until the owner disables
them on purpose (see docs/audit.md, "Archiving"). ``audit_chain_head`` stays updatable:
every append moves it.

On SQLite, a later batch migration that copies ``audit_events`` or ``audit_checkpoints``
drops their triggers with the old table; such a migration must create them again
(``tests/bgcheck/audit/test_triggers.py`` fails at head otherwise).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = "0002_audit"
down_revision: str | None = "132f7401e62f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("audit_events", "audit_checkpoints")

PG_FUNCTION = """
CREATE FUNCTION bgcheck_refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bgcheck: % on % is refused: the audit trail is append-only',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Archiving is a separate procedure run by the table owner; see docs/audit.md.';
END
$$
"""


def _pg_triggers(table: str) -> list[str]:
    # Statement-level: the attempt itself is refused, even one that matches no row.
    return [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bgcheck_refuse_audit_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bgcheck_refuse_audit_change()",
    ]


def _sqlite_triggers(table: str) -> list[str]:
    # SQLite has no TRUNCATE: its "DELETE FROM t" shortcut is off when triggers exist.
    return [
        f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'bgcheck: {operation} on {table} is refused: "
        "the audit trail is append-only'); END"
        for operation in ("UPDATE", "DELETE")
    ]


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_checkpoints_seq")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in APPEND_ONLY_TABLES:
            for statement in _pg_triggers(table):
                op.execute(statement)
    else:
        for table in APPEND_ONLY_TABLES:
            for statement in _sqlite_triggers(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bgcheck_refuse_audit_change()")
    else:
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_table("audit_checkpoints")
