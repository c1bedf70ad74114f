"""Removal events to resellers (RFC 8417 SETs, RFC 8936 poll).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "removal_events",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("effective_at", sa.String(length=27), nullable=False),
        sa.Column("acked_at", sa.String(length=27), nullable=True),
        sa.Column("acked_by", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_removal_events_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_removal_events")),
    )
    op.create_index(
        "ix_removal_events_partner_id_acked_at",
        "removal_events",
        ["partner_id", "acked_at", "effective_at"],
    )
    op.create_index("ix_removal_events_customer_id", "removal_events", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_removal_events_customer_id", table_name="removal_events")
    op.drop_index("ix_removal_events_partner_id_acked_at", table_name="removal_events")
    op.drop_table("removal_events")
