"""storage.db: engine, sessions and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, select

from storage.db import Database
from storage.models import Mailbox
from tests.support.mail_servers import free_port


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


def test_a_session_commits_when_its_block_ends_and_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        session.add(Mailbox(team_id="T1", kind="personal", owner_id="U1", address="gone@x.test"))
        session.flush()
        raise RuntimeError("a step failed after the insert")
    for durable in (True, False):
        with db.session(durable=durable) as session:
            address = f"kept-{durable}@x.test"
            session.add(Mailbox(team_id="T1", kind="personal", owner_id="U1", address=address))
    with db.session() as session:
        addresses = sorted(m.address for m in session.exec(select(Mailbox)))
    assert addresses == ["kept-False@x.test", "kept-True@x.test"]


def test_ping_tells_whether_the_database_answers(db: Database) -> None:
    assert db.ping()
    closed = Database(f"postgresql://nobody@127.0.0.1:{free_port()}/nothing")
    try:
        assert not closed.ping()
    finally:
        closed.dispose()


def test_a_sqlite_file_is_created_private_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "mailroom.db"
    old = os.umask(0o022)
    try:
        database = Database(f"sqlite:///{path}")
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with database.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        database.dispose()
