"""CORI dissemination log

Revision ID: 0005_dissemination
Revises: 0004_cases
Create Date: 2026-11-25 16:30:11.901674
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = "0005_dissemination"
down_revision: str | None = "0004_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cori_disseminations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("relationship", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("released_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("what", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_cori_disseminations_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cori_disseminations")),
    )
    with op.batch_alter_table("cori_disseminations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cori_disseminations_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cori_disseminations_released_at"), ["released_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cori_disseminations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cori_disseminations_released_at"))
        batch_op.drop_index(batch_op.f("ix_cori_disseminations_case_id"))

    op.drop_table("cori_disseminations")
