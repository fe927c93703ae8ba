"""mail identity by folder + UIDVALIDITY + UID; per-mail failures

A Message-ID no longer identifies a mail: the unique constraint on (mailbox_id, message_id)
becomes a plain index (threading lookups), ``content_hash`` tells the very same mail in two
folders from a different mail reusing an id, and ``failures`` counts failed tries of one
mail so it can be set aside instead of stalling its mailbox. The identity constraint on
(mailbox_id, folder, uidvalidity, uid) already exists since 0001.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# 0001 created its unique constraints without names. On SQLite they are reflected without
# a name too; this convention names them inside the batch so one can be dropped.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
MESSAGE_ID_COLUMNS = ["mailbox_id", "message_id"]


def _message_id_constraint() -> str:
    """The name of the unique constraint on (mailbox_id, message_id) in this database."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("messages"):
        name = constraint.get("name")
        if constraint["column_names"] == MESSAGE_ID_COLUMNS and name:
            return name
    return "uq_messages_mailbox_id_message_id"


def upgrade() -> None:
    name = _message_id_constraint()
    with op.batch_alter_table("messages", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(name, type_="unique")
        batch_op.add_column(
            sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index("ix_messages_mailbox_id_message_id", MESSAGE_ID_COLUMNS, unique=False)


def downgrade() -> None:
    # Fails when two rows share a Message-ID, which is exactly what 0002 allows: remove
    # those rows first if going back is really needed.
    with op.batch_alter_table("messages", naming_convention=NAMING) as batch_op:
        batch_op.drop_index("ix_messages_mailbox_id_message_id")
        batch_op.drop_column("failures")
        batch_op.drop_column("content_hash")
        batch_op.create_unique_constraint("uq_messages_mailbox_id_message_id", MESSAGE_ID_COLUMNS)
