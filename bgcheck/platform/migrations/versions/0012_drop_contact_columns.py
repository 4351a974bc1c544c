"""candidates: drop the four contact columns that 0009 replaced with one sealed value

Revision ID: 0012_drop_contact_columns
Revises: 0011_outbox_job_kind
Create Date: 2026-12-06 00:30:00

Only development builds from before 0009 (there was no release) wrote contacts there,
and the read path for them is gone with the columns. A database that still holds such a
contact is refused, not silently emptied. A downgrade restores the columns, empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_drop_contact_columns"
down_revision: str | None = "0011_outbox_job_kind"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("given_name", "family_name", "email", "ssn_last4")


def upgrade() -> None:
    kept = " OR ".join(f"{column} IS NOT NULL" for column in COLUMNS)
    stranded = sa.text(f"SELECT count(*) FROM candidates WHERE {kept}")  # noqa: S608  (constants)
    if count := op.get_bind().execute(stranded).scalar_one():
        raise RuntimeError(
            f"{count} candidate contact(s) are still in the columns that development builds "
            "wrote before migration 0009, which bgcheck no longer reads; keep this database "
            "at revision 0011_outbox_job_kind, or start a new one"
        )
    with op.batch_alter_table("candidates") as batch_op:
        for column in COLUMNS:
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("candidates") as batch_op:
        for column in COLUMNS:
            batch_op.add_column(sa.Column(column, sa.LargeBinary(), nullable=True))
