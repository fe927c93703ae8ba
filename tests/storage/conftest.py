"""Fixtures of the storage tests: a migrated database, on SQLite and on PostgreSQL (when
MAILROOM_TEST_DATABASE_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.db import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()
