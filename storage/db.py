"""Engine, sessions and schema migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, create_engine

from storage.files import make_private_sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            make_private_sqlite(Path(url.removeprefix("sqlite:///")))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets the web handlers read while the scheduler writes; busy_timeout makes
            # writers queue instead of failing with "database is locked".
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


# Key of the PostgreSQL advisory lock that lets one process at a time migrate.
MIGRATION_LOCK = 7_204_113_001


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe at every start).

    On PostgreSQL several processes may start at once (a web and two workers): they take
    turns under an advisory lock, so only the first one migrates and the others find the
    schema up to date."""
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), "head")
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            command.upgrade(alembic_config(engine), "head")
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def migrate(self) -> None:
        migrate(self.engine)

    @contextmanager
    def session(self, *, durable: bool = True) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on error.

        ``durable=False``, for bookkeeping that the next run rewrites anyway (a mailbox's
        health and last sync time): on PostgreSQL the commit does not wait for the WAL to
        reach the disk, so a server crash may lose it (never corrupt it); on SQLite it is
        the same as a durable one."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                if not durable and self.engine.dialect.name == "postgresql":
                    session.exec(text("SET LOCAL synchronous_commit TO off"))  # type: ignore[call-overload]
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # a health probe: any failure means unreachable
            return False

    def insert_once(self, row: object) -> bool:
        """Insert ``row``; False when a unique constraint says it is already there."""
        try:
            with self.session() as session:
                session.add(row)
            return True
        except IntegrityError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
