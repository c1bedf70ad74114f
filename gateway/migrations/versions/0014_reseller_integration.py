"""Keys a reseller publishes itself, and sandbox resellers.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(sa.Column("jwks_uri", sa.String(length=500), nullable=True))
    with op.batch_alter_table("partners") as batch:
        batch.add_column(
            sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("sandbox")
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("jwks_uri")
