"""team inbox: thread assignee and status, held replies (undo, send later), Cc for `all:`, reminders, saved replies

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "mailbox_id", "name"),
    )
    with op.batch_alter_table("reply_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reply_templates_team_id"), ["team_id"], unique=False)
    op.create_table(
        "inbox_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("reminder_hours", sa.Float(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("working_days", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox_id"),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assignee_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=False,
                server_default="open",
            )
        )
        batch_op.add_column(
            sa.Column("snoozed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_conversations_assignee_id"), ["assignee_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_conversations_status"), ["status"], unique=False)
    # Threads from before the team inbox: the ones we answered last are Waiting, not Open.
    op.execute(
        "UPDATE conversations SET status = 'waiting' WHERE ("
        "SELECT m.direction FROM messages m WHERE m.conversation_id = conversations.id "
        "ORDER BY m.id DESC LIMIT 1) = 'out'"
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("send_after", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("notice_ts", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "cc_addresses",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    op.drop_table("reply_templates")
    op.drop_table("inbox_settings")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("cc_addresses")
        batch_op.drop_column("notice_ts")
        batch_op.drop_column("send_after")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations_status"))
        batch_op.drop_index(batch_op.f("ix_conversations_assignee_id"))
        batch_op.drop_column("snoozed_until")
        batch_op.drop_column("status")
        batch_op.drop_column("assignee_id")
