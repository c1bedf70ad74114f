"""Customers, designations and stop-of-use.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

``customers.content`` holds only allowlisted content (the import door drops everything else).
The index ``(partner_id, changed_at, customer_id)`` on designations serves the partner list's
keyset pagination and its ``updated_since`` filter.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.String(length=27), nullable=False),
        sa.Column("contract_ended", sa.Boolean(), nullable=False),
        sa.Column("stop_use", sa.Boolean(), nullable=False),
        sa.Column("stop_use_at", sa.String(length=27), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "designations",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("designated_on", sa.Date(), nullable=False),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("changed_at", sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_designations_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_designations_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("customer_id", "partner_id", name=op.f("pk_designations")),
    )
    op.create_index(
        "ix_designations_partner_id_changed_at",
        "designations",
        ["partner_id", "changed_at", "customer_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_designations_partner_id_changed_at", table_name="designations")
    op.drop_table("designations")
    op.drop_table("customers")
