"""Resellers' certificates of destruction.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "destruction_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("confirmed_on", sa.Date(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"],
                                name=op.f("fk_destruction_records_partner_id_partners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_records")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_destruction_records_partner_id"), "destruction_records", ["partner_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_destruction_records_partner_id"), table_name="destruction_records")
    op.drop_table("destruction_records")
