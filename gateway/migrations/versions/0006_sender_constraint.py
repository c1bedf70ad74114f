"""DPoP (RFC 9449): each client's sender constraint, and the DPoP proofs already used.

Clients registered before this revision keep plain bearer tokens (``none``), so that no
reseller is cut off by an upgrade; ``gateway clients constrain CLIENT_ID
--sender-constraint dpop`` binds them. New clients are ``dpop`` unless an operator opts out.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "oauth_clients",
        sa.Column("sender_constraint", sa.String(length=8), nullable=False, server_default="none"),
    )
    op.create_table(
        "used_dpop_proofs",
        sa.Column("proof_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("proof_id", name=op.f("pk_used_dpop_proofs")),
    )
    op.create_index(
        op.f("ix_used_dpop_proofs_expires_at"), "used_dpop_proofs", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_used_dpop_proofs_expires_at"), table_name="used_dpop_proofs")
    op.drop_table("used_dpop_proofs")
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("sender_constraint")
