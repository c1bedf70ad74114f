"""The rights register: paragraph-6 requests and what was done for them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rights_requests",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("opened_at", sa.String(length=27), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("closed_at", sa.String(length=27), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_requests")),
    )
    op.create_index(op.f("ix_rights_requests_customer_id"), "rights_requests", ["customer_id"])
    op.create_index("ix_rights_requests_status_due_on", "rights_requests", ["status", "due_on"])
    op.create_table(
        "rights_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("at", sa.String(length=27), nullable=False),
        sa.Column("by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["rights_requests.id"],
                                name=op.f("fk_rights_actions_request_id_rights_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_actions")),
    )  # fmt: skip
    op.create_index(op.f("ix_rights_actions_request_id"), "rights_actions", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rights_actions_request_id"), table_name="rights_actions")
    op.drop_table("rights_actions")
    op.drop_index("ix_rights_requests_status_due_on", table_name="rights_requests")
    op.drop_index(op.f("ix_rights_requests_customer_id"), table_name="rights_requests")
    op.drop_table("rights_requests")
