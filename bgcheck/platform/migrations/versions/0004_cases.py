"""Cases: workflow facts, sealed candidates, case keys, documents, outbox, idempotency

Revision ID: 0004_cases
Revises: 0003_identity
Create Date: 2026-11-25 16:18:10.976969
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = "0004_cases"
down_revision: str | None = "0003_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotent_responses",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_idempotent_responses_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotent_responses")),
    )
    with op.batch_alter_table("idempotent_responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotent_responses_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_idempotent_responses_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "candidates",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("given_name", sa.LargeBinary(), nullable=True),
        sa.Column("family_name", sa.LargeBinary(), nullable=True),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("details", sa.LargeBinary(), nullable=True),
        sa.Column("email_index", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ssn_index", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("name_dob_index", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_candidates_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_candidates")),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_candidates_email_index"), ["email_index"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_candidates_name_dob_index"), ["name_dob_index"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_candidates_ssn_index"), ["ssn_index"], unique=False)

    op.create_table(
        "case_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "assessment",
                "pre_adverse_notice",
                "final_notice",
                "dispute",
                "identity",
                "report",
                name="document_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_documents_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_documents")),
    )
    with op.batch_alter_table("case_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_documents_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_keys",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kek_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_keys_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_keys")),
    )
    with op.batch_alter_table("case_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_keys_kek_id"), ["kek_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_outbox_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_available_at"), ["available_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invitation_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "disclosure_version", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("identity_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("identity_verified_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("assigned_to", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("proposed_by", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("adverse_deadline", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("ready_to_finalize", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("open_dispute", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("vendor_status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("vendor_result", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "vendor_reference", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True
            )
        )
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_assigned_to"), ["assigned_to"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_decided_at"), ["decided_at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_proposed_by_users"), "users", ["proposed_by"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_identity_verified_by_users"),
            "users",
            ["identity_verified_by"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_assigned_to_users"), "users", ["assigned_to"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_cases_assigned_to_users"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_cases_identity_verified_by_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_cases_proposed_by_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_cases_decided_at"))
        batch_op.drop_index(batch_op.f("ix_cases_assigned_to"))
        batch_op.drop_column("decided_at")
        batch_op.drop_column("vendor_reference")
        batch_op.drop_column("vendor_result")
        batch_op.drop_column("vendor_status")
        batch_op.drop_column("open_dispute")
        batch_op.drop_column("ready_to_finalize")
        batch_op.drop_column("adverse_deadline")
        batch_op.drop_column("proposed_by")
        batch_op.drop_column("assigned_to")
        batch_op.drop_column("identity_verified_by")
        batch_op.drop_column("identity_verified_at")
        batch_op.drop_column("disclosure_version")
        batch_op.drop_column("consent_at")
        batch_op.drop_column("invitation_expires_at")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_case_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_available_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("case_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_keys_kek_id"))

    op.drop_table("case_keys")
    with op.batch_alter_table("case_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_documents_case_id"))

    op.drop_table("case_documents")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidates_ssn_index"))
        batch_op.drop_index(batch_op.f("ix_candidates_name_dob_index"))
        batch_op.drop_index(batch_op.f("ix_candidates_email_index"))

    op.drop_table("candidates")
    with op.batch_alter_table("idempotent_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotent_responses_case_id"))
        batch_op.drop_index(batch_op.f("ix_idempotent_responses_created_at"))

    op.drop_table("idempotent_responses")
