"""Migration 0013 (a mailbox's ``removed_at``) both ways, on a database that holds a mailbox
(SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from storage.db import Database, alembic_config
from tests.support.old_schema import insert_mailbox


def _columns(db: Database) -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns("mailboxes")}


def test_0013_keeps_mailboxes_present_and_downgrades_cleanly(database_url: str) -> None:
    db = Database(database_url)
    try:
        config = alembic_config(db.engine)
        command.upgrade(config, "0012")
        with db.engine.begin() as conn:
            insert_mailbox(conn)
        command.upgrade(config, "0013")
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, removed_at FROM mailboxes")).all()
        # A mailbox from before the migration is still in Mailroom.
        assert [tuple(row) for row in rows] == [(1, None)]

        command.downgrade(config, "0012")
        assert "removed_at" not in _columns(db)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM mailboxes")).scalar_one() == 1
        command.upgrade(config, "head")
        assert "removed_at" in _columns(db)
    finally:
        db.dispose()
