"""Rows written with plain SQL into a database held at an older migration (the models describe
only the newest schema), for the tests of a migration on a database that already holds data."""

from __future__ import annotations

from sqlalchemy import Connection, text

NOW = "2026-12-01 10:00:00"


def insert_mailbox(conn: Connection, now: str = NOW) -> None:
    """Mailbox 1 (shared, team T1, a@x.test over IMAP/SMTP), with the columns every revision
    from 0001 to 0012 has."""
    conn.execute(
        text(
            "INSERT INTO mailboxes (id, team_id, kind, owner_id, address, sender_name,"
            " provider, imap_host, imap_port, imap_security, imap_username, smtp_host,"
            " smtp_port, smtp_security, smtp_username, active, visible, health,"
            " consecutive_failures, messages_synced, backfill_days, sync_mode, send_via,"
            " created_at, updated_at) VALUES (1, 'T1', 'shared', 'U1', 'a@x.test', '',"
            " 'imap', 'h', 993, 'ssl', '', 'h', 465, 'ssl', '', true, true, 'ok', 0, 0, 0,"
            " 'full', 'smtp', :now, :now)"
        ),
        {"now": now},
    )
