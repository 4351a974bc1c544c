"""candidates: the contact sealed as one value

Revision ID: 0009_candidate_contact
Revises: 0008_audit_canonical_data
Create Date: 2026-12-02 19:50:00

Cases written before keep their four contact columns and are read from them; the next
write of a case's contact moves it into the new column (bgcheck.vault.store.Vault._store).
Re-sealing every case here would need the keyring, which migrations never see.
A downgrade loses the contacts written since (they are in no other column).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_candidate_contact"
down_revision: str | None = "0008_audit_canonical_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("candidates", sa.Column("contact", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidates") as batch_op:
        batch_op.drop_column("contact")
