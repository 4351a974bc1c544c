"""outbox: only the job kinds a worker knows how to run (a CHECK on ``kind``)

Revision ID: 0011_outbox_job_kind
Revises: 0010_security
Create Date: 2026-12-05 23:45:00

The kinds are ``bgcheck.models.JobKind``'s values as of this revision, written out: a
migration never imports the models. A new kind needs a migration that widens the list.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_outbox_job_kind"
down_revision: str | None = "0010_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("vendor_order", "vendor_cancel", "vendor_reinvestigation", "vendor_sync")


def upgrade() -> None:
    listed = ", ".join(f"'{kind}'" for kind in KINDS)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f("ck_outbox_job_kind"), f"kind IN ({listed})")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_outbox_job_kind"), type_="check")
