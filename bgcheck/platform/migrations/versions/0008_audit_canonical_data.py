"""audit_events: the canonical JSON text of data, as hashed

Revision ID: 0008_audit_canonical_data
Revises: 0007_ssn_last4
Create Date: 2026-12-02 19:20:00

Events recorded before this revision keep NULL: the trail is append-only, so they are not
rewritten; verification and exports re-canonicalize their ``data`` as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_audit_canonical_data"
down_revision: str | None = "0007_ssn_last4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both back-ends: no table rebuild, no UPDATE for the
    # append-only triggers to refuse.
    op.add_column("audit_events", sa.Column("canonical_data", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_column("canonical_data")
