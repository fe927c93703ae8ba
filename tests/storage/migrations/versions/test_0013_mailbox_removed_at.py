"""Migration 0013 (a mailbox's ``removed_at``) both ways, on a database that holds a mailbox
(SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from storage.db import Database, alembic_config


def _columns(db: Database) -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns("mailboxes")}


def test_0013_keeps_mailboxes_present_and_downgrades_cleanly(database_url: str) -> None:
    db = Database(database_url)
    try:
        config = alembic_config(db.engine)
        command.upgrade(config, "0012")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO mailboxes (id, team_id, kind, owner_id, address, sender_name,"
                    " provider, imap_host, imap_port, imap_security, imap_username, smtp_host,"
                    " smtp_port, smtp_security, smtp_username, active, visible, health,"
                    " consecutive_failures, messages_synced, backfill_days, sync_mode,"
                    " send_via, created_at, updated_at) VALUES (1, 'T1', 'shared', 'U1',"
                    " 'a@x.test', '', 'imap', 'h', 993, 'ssl', '', 'h', 465, 'ssl', '', true,"
                    " true, 'ok', 0, 0, 0, 'full', 'smtp', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
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
