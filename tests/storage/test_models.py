"""storage.models: the uniqueness guarantees and column types of the schema, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from storage.db import Database
from storage.models import Mailbox, Message, Notification, ProcessedEvent, saved_id


def mailbox_row(db: Database) -> int:
    with db.session() as session:
        mailbox = Mailbox(team_id="T1", kind="personal", owner_id="U1", address="a@example.com")
        session.add(mailbox)
        session.flush()
        return mailbox.id  # type: ignore[return-value]


def message(mailbox_id: int, **fields: object) -> Message:
    base = {
        "mailbox_id": mailbox_id,
        "message_id": "<m@x>",
        "direction": "in",
        "state": "posted",
        "folder": "INBOX",
        "uidvalidity": 7,
        "uid": 1,
    }
    base.update(fields)
    return Message(**base)  # type: ignore[arg-type]


def test_a_mail_is_known_once_per_uid_not_per_message_id(db: Database) -> None:
    box = mailbox_row(db)
    assert db.insert_once(message(box))
    # Same folder, uidvalidity and uid under another Message-ID: the same mail.
    assert not db.insert_once(message(box, message_id="<other@x>"))
    # Same Message-ID at another uid: another mail (broken mailers reuse ids); both kept.
    assert db.insert_once(message(box, uid=2))
    # A new UIDVALIDITY voids old uids: uid 1 may come back as another mail.
    assert db.insert_once(message(box, message_id="<new@x>", uidvalidity=8))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(message(box, message_id="<third@x>"))


def test_a_slack_message_and_an_event_are_handled_once(db: Database) -> None:
    box = mailbox_row(db)
    reply = {
        "direction": "out",
        "state": "pending_send",
        "folder": None,
        "uidvalidity": None,
        "uid": None,
        "source_channel": "C1",
        "source_ts": "1.1",
    }
    assert db.insert_once(message(box, message_id="<r1@x>", **reply))
    assert not db.insert_once(message(box, message_id="<r2@x>", **reply))
    assert db.insert_once(ProcessedEvent(event_id="Ev1"))
    assert not db.insert_once(ProcessedEvent(event_id="Ev1"))
    assert db.insert_once(Notification(key="sync-failing:1", recipient="U1"))
    assert not db.insert_once(Notification(key="sync-failing:1", recipient="U2"))


def test_datetimes_are_stored_as_aware_utc(db: Database) -> None:
    box = mailbox_row(db)
    moment = datetime(2024, 3, 1, 12, 0, tzinfo=UTC) + timedelta(microseconds=5)
    with db.session() as session:
        mailbox = session.get(Mailbox, box)
        mailbox.last_success_at = moment
        session.add(mailbox)
    with db.session() as session:
        stored = session.get(Mailbox, box).last_success_at
    assert stored == moment and stored.tzinfo is not None
    with pytest.raises(StatementError), db.session() as session:
        mailbox = session.get(Mailbox, box)
        mailbox.last_success_at = datetime(2024, 3, 1, 12, 0)  # naive: refused
        session.add(mailbox)


def test_saved_id_refuses_a_row_never_saved() -> None:
    unsaved = Mailbox(team_id="T1", kind="personal", owner_id="U1", address="new@example.com")
    with pytest.raises(ValueError, match="Mailbox is not saved yet"):
        saved_id(unsaved)
    unsaved.id = 5
    assert saved_id(unsaved) == 5
