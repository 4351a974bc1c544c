"""outbox: e-mail jobs (the ``mail`` kind) and a sealed column for what a job carries

Revision ID: 0013_outbox_mail
Revises: 0012_drop_contact_columns
Create Date: 2026-12-06 01:00:00

The kinds are written out, as in 0011: a migration never imports the models. A downgrade
first drops the mail jobs (the older schema cannot hold them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_outbox_mail"
down_revision: str | None = "0012_drop_contact_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("vendor_order", "vendor_cancel", "vendor_reinvestigation", "vendor_sync")
KINDS = (*OLD_KINDS, "mail")


def _check(kinds: tuple[str, ...]) -> str:
    return "kind IN ({})".format(", ".join(f"'{kind}'" for kind in kinds))


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_outbox_job_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_outbox_job_kind"), _check(KINDS))
        batch_op.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind = 'mail'")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("sealed")
        batch_op.drop_constraint(batch_op.f("ck_outbox_job_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_outbox_job_kind"), _check(OLD_KINDS))
