"""The public notice's revisions: each form it took, and since when.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_revisions",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_notice_revisions")),
    )


def downgrade() -> None:
    op.drop_table("notice_revisions")
