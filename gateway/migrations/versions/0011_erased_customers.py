"""Tombstones of erased customers.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_customers",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.String(length=27), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_erased_customers")),
    )


def downgrade() -> None:
    op.drop_table("erased_customers")
