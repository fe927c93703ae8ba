"""reply inbox: thread messages stored before Slack's event is acknowledged

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("message_ts", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("event_json", sa.Text(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("done_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "message_ts"),
    )
    with op.batch_alter_table("reply_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reply_inbox_done"), ["done"], unique=False)
        batch_op.create_index(batch_op.f("ix_reply_inbox_event_id"), ["event_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("reply_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reply_inbox_event_id"))
        batch_op.drop_index(batch_op.f("ix_reply_inbox_done"))
    op.drop_table("reply_inbox")
