"""forget the bodies of mail that was never posted

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-03 08:50:00.000000

Mail recorded but never posted (the Sent folder's own mail, mail skipped in partial mode)
was kept with its full text, readable through "Show full email" by guessing a row id. New
mail of that kind is no longer stored with a body; this forgets what earlier versions kept.
Data only: there is nothing to undo on downgrade (the text is gone).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    messages = sa.table(
        "messages",
        sa.column("state", sa.String()),
        sa.column("body_text", sa.Text()),
    )
    op.execute(messages.update().where(messages.c.state == "skipped").values(body_text=None))


def downgrade() -> None:
    pass
