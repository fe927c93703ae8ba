"""Migration 0009 on a database with threads: answered ones become Waiting, the rest Open."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from storage.db import Database, alembic_config
from tests.support.old_schema import insert_mailbox


def test_existing_threads_get_the_status_of_their_last_mail(database_url: str) -> None:
    db = Database(database_url)
    try:
        command.upgrade(alembic_config(db.engine), "0008")
        with db.engine.begin() as conn:
            insert_mailbox(conn)
            for conv, last in ((1, "out"), (2, "in")):
                conn.execute(
                    text(
                        "INSERT INTO conversations (id, mailbox_id, channel_id, thread_ts, "
                        "subject, customer_address, customer_name, created_at, last_message_at) "
                        "VALUES (:id, 1, 'C', :ts, '', 'c@y.com', '', CURRENT_TIMESTAMP, "
                        "CURRENT_TIMESTAMP)"
                    ),
                    {"id": conv, "ts": f"{conv}.0"},
                )
                for n, direction in enumerate(("in", last)):
                    conn.execute(
                        text(
                            "INSERT INTO messages (mailbox_id, conversation_id, message_id, "
                            "direction, subject, from_address, from_name, to_addresses, "
                            "reply_to, state, attempts, created_at, updated_at) VALUES (1, "
                            ":conv, :mid, :dir, '', '', '', '', '', 'posted', 0, "
                            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                        ),
                        {"conv": conv, "mid": f"<{conv}.{n}@x>", "dir": direction},
                    )
        db.migrate()
        with db.engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT id, status FROM conversations")).all())
        assert statuses == {1: "waiting", 2: "open"}
    finally:
        db.dispose()
