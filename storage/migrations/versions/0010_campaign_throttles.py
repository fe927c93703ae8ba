"""campaign throttles: per-mailbox send slots shared by every worker process

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_throttles",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("granted", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"]),
        sa.PrimaryKeyConstraint("mailbox_id"),
    )


def downgrade() -> None:
    op.drop_table("campaign_throttles")
