"""rich text templates: a template's and a campaign's rich_text body

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("campaign_templates", "campaigns"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("body_rich", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in ("campaigns", "campaign_templates"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("body_rich")
