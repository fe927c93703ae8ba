"""Migration 0002 on a database that already holds mail (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.db import Database, alembic_config
from tests.support.old_schema import insert_mailbox


@pytest.fixture
def db_at_0001(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    command.upgrade(alembic_config(database.engine), "0001")
    yield database
    database.dispose()


def test_0002_keeps_existing_mail_and_lets_two_mails_share_a_message_id(
    db_at_0001: Database,
) -> None:
    db = db_at_0001
    now = "2026-12-01 10:00:00"
    with db.engine.begin() as conn:
        insert_mailbox(conn, now)
        conn.execute(
            text(
                "INSERT INTO conversations (id, mailbox_id, channel_id, thread_ts, subject,"
                " customer_address, customer_name, created_at, last_message_at)"
                " VALUES (1, 1, 'C1', '1.1', 's', 'c@x.test', 'C', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO messages (id, mailbox_id, conversation_id, message_id, direction,"
                " folder, uidvalidity, uid, subject, from_address, from_name, to_addresses,"
                " reply_to, state, attempts, created_at, updated_at) VALUES (1, 1, 1, '<m@x>',"
                " 'in', 'INBOX', 7, 1, 'First', 'c@x.test', 'C', '', '', 'posted', 1, :now, :now)"
            ),
            {"now": now},
        )
        # A row that points at the message: the table rebuild on SQLite must keep it valid.
        conn.execute(
            text(
                "INSERT INTO activities (id, mailbox_id, message_row_id, contact_address,"
                " direction, subject, occurred_at) VALUES (1, 1, 1, 'c@x.test', 'in', 's', :now)"
            ),
            {"now": now},
        )
    db.migrate()
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO messages (id, mailbox_id, message_id, direction, folder, uidvalidity,"
                " uid, subject, from_address, from_name, to_addresses, reply_to, state,"
                " attempts, failures, content_hash, created_at, updated_at) VALUES (2, 1, '<m@x>',"
                " 'in', 'INBOX', 7, 2, 'Second', '', '', '', '', 'posted', 0, 0, 'h', :now, :now)"
            ),
            {"now": now},
        )
        rows = conn.execute(text("SELECT subject, uid, failures FROM messages ORDER BY id")).all()
        activity = conn.execute(text("SELECT message_row_id FROM activities")).scalar_one()
    assert [tuple(r) for r in rows] == [("First", 1, 0), ("Second", 2, 0)]
    assert activity == 1
    # Foreign keys are enforced again once migrated (SQLite turns them off meanwhile).
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO activities (mailbox_id, message_row_id, contact_address,"
                " direction, subject, occurred_at) VALUES (1, 999, 'c@x.test', 'in', 's', :now)"
            ),
            {"now": now},
        )
