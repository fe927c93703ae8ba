"""sign-in identity: Microsoft object id, SES pinned address, state opened once

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ms_object_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("ses_pinned_address", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.drop_column("opened_at")
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.drop_column("ses_pinned_address")
        batch_op.drop_column("ms_object_id")
