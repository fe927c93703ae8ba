"""Schema, migrations, uniqueness guarantees and secrets at rest, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import SQLModel

from storage.crypto import SecretBox
from storage.db import Database
from storage.models import Mailbox, Message, Notification, ProcessedEvent


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def test_migrations_are_idempotent_and_match_the_models(db: Database) -> None:
    db.migrate()  # a second start changes nothing and does not fail
    db.migrate()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    for table in (
        "users",
        "mailboxes",
        "folder_states",
        "conversations",
        "messages",
        "processed_events",
        "notifications",
        "alembic_version",
    ):
        assert table in tables


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


def test_secret_box_round_trip_and_wrong_key() -> None:
    key = Fernet.generate_key().decode()
    box = SecretBox([key])
    token = box.seal({"imap_password": "hunter2", "n": 1})
    assert "hunter2" not in token
    assert box.open(token) == {"imap_password": "hunter2", "n": 1}
    assert box.open(None) == {}
    with pytest.raises(ValueError, match="MAILROOM_SECRET_KEY"):
        SecretBox([Fernet.generate_key().decode()]).open(token)
    with pytest.raises(ValueError):
        SecretBox([])


def test_key_rotation_with_multifernet() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old]).seal({"imap_password": "p"})
    during = SecretBox([new, old])  # newest first, old kept until rows are re-encrypted
    assert during.open(token) == {"imap_password": "p"}
    rotated = during.rotate(token)
    assert SecretBox([new]).open(rotated) == {"imap_password": "p"}
    with pytest.raises(ValueError):
        SecretBox([new]).open(token)
    # New secrets are always sealed with the newest key.
    assert SecretBox([new]).open(during.seal({"x": 1})) == {"x": 1}
