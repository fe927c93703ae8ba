"""The whole app, in-process, wired to real parts: fake Slack over HTTP, Dovecot, aiosmtpd.

``mailroom_app`` builds Mailroom exactly as ``python app.py`` does (settings → factory),
with the scheduler running. Slack requests reach it signed, through FastAPI's TestClient.
Tests that need the real process use ``AppProcess`` (``python app.py`` as a subprocess).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from bot.factory import Mailroom, create_mailroom
from bot.settings import load_settings
from bot.sync import SyncResult
from handlers import register_listeners
from storage.models import Health, Mailbox
from tests.support.fake_slack import FakeSlack
from tests.support.mail_servers import DovecotServer, SmtpServer, free_port
from tests.support.slack_requests import (
    SlackClientForTests,
    conversations_select,
    plain_input,
    static_select,
)
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


# --- Databases -----------------------------------------------------------------------------


def postgres_url() -> str | None:
    url = os.environ.get("MAILROOM_TEST_DATABASE_URL")
    if not url and os.environ.get("CI") == "true":
        pytest.fail("MAILROOM_TEST_DATABASE_URL must be set under CI=true (PostgreSQL tests).")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: SQLite always, PostgreSQL when MAILROOM_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailroom.db'}"
        return
    base = postgres_url()
    if not base:
        pytest.skip("PostgreSQL tests need MAILROOM_TEST_DATABASE_URL")
    yield from fresh_postgres_database(base)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh empty PostgreSQL database, for what only PostgreSQL does."""
    base = postgres_url()
    if not base:
        pytest.skip("PostgreSQL tests need MAILROOM_TEST_DATABASE_URL")
    yield from fresh_postgres_database(base)


def fresh_postgres_database(base: str) -> Iterator[str]:
    name = f"mailroom_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_sqlalchemy_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _sqlalchemy_url(url: str) -> str:
    return (
        "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith("postgresql://") else url
    )


def query_scalar(database_url: str, sql: str, **params: Any) -> Any:
    """One value read from an app process's database (its DATABASE_URL), e.g. after a kill."""
    engine = create_engine(_sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


# --- Mail -----------------------------------------------------------------------------------


def make_email(
    *,
    sender: str = "Carla Cliente <carla@customer.test>",
    to: str = "sales@example.com",
    subject: str = "Question about pricing",
    body: str = "Hello, how much is it?",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    reply_to: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id or make_msgid(domain="customer.test")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    if reply_to:
        msg["Reply-To"] = reply_to
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


@dataclass
class MailAccount:
    address: str
    password: str


def new_mail_account(dovecot: DovecotServer, smtp: SmtpServer) -> MailAccount:
    """A fresh mailbox user known to both Dovecot and the SMTP server."""
    account = MailAccount(f"m{uuid.uuid4().hex[:10]}@example.com", uuid.uuid4().hex[:16])
    dovecot.add_user(account.address, account.password)
    smtp.users[account.address] = account.password
    return account


def connect_values(
    account: MailAccount,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    *,
    kind: str = "personal",
    channel: str = "C_SALES",
    backfill: str = "0",
    **overrides: str,
) -> dict[str, Any]:
    """The connect modal's state values for ``account`` on the test servers."""
    fields = {
        "kind": static_select(kind),
        "address": plain_input(account.address),
        "sender_name": plain_input("Ana from Acme"),
        "imap_host": plain_input("127.0.0.1"),
        "imap_port": plain_input(str(dovecot.port)),
        "imap_security": static_select("none"),
        "imap_username": plain_input(""),
        "imap_password": plain_input(account.password),
        "smtp_host": plain_input("127.0.0.1"),
        "smtp_port": plain_input(str(smtp.port)),
        "smtp_security": static_select("none"),
        "smtp_username": plain_input(""),
        "smtp_password": plain_input(""),
        "channel": conversations_select(channel),
        "backfill": static_select(backfill),
    }
    for key, value in overrides.items():
        fields[key] = (
            static_select(value)
            if key in ("kind", "imap_security", "smtp_security", "backfill")
            else conversations_select(value)
            if key == "channel"
            else plain_input(value)
        )
    return {key: {"value": value} for key, value in fields.items()}


def mailbox_row(
    account: MailAccount, dovecot: DovecotServer, smtp: SmtpServer, *, secrets: str, channel: str
) -> Mailbox:
    """A personal mailbox row for ``account`` on the test servers, as the connect modal saves
    it (for tests that need many: faster than a modal submission each); ``secrets`` are its
    sealed passwords."""
    return Mailbox(
        team_id="T1",
        kind="personal",
        owner_id=f"U{uuid.uuid4().hex[:8]}",
        address=account.address,
        imap_host="127.0.0.1",
        imap_port=dovecot.port,
        imap_security="none",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        secrets=secrets,
        channel_id=channel,
        health=Health.NEW,
    )


class SilentServer:
    """Accepts TCP connections and never says a word: a mail server that hangs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


# --- The in-process app ----------------------------------------------------------------------


@dataclass
class Harness:
    mailroom: Mailroom
    slack: FakeSlack
    client: SlackClientForTests
    dovecot: DovecotServer
    smtp: SmtpServer
    env: dict[str, str]
    accounts: list[MailAccount] = field(default_factory=list)

    @property
    def ctx(self) -> Any:
        return self.mailroom.ctx

    def new_account(self) -> MailAccount:
        account = new_mail_account(self.dovecot, self.smtp)
        self.accounts.append(account)
        return account

    def connect_values(self, account: MailAccount, **kwargs: str) -> dict[str, Any]:
        return connect_values(account, self.dovecot, self.smtp, **kwargs)

    def connect(
        self, account: MailAccount | None = None, *, user: str = "UALICE", **kwargs: str
    ) -> Mailbox:
        """Connect a mailbox through the real modal submission; returns the saved mailbox."""
        account = account or self.new_account()
        body = self.submit_connect(self.connect_values(account, **kwargs), user)
        assert body.get("response_action") == "update", body
        return self.wait_for_mailbox(account.address)

    def submit_connect(
        self,
        values: dict[str, Any],
        user: str = "UALICE",
        mailbox_id: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Submit the connect modal (a reconnect of ``mailbox_id``, else a new mailbox) with
        ``values``; returns the app's answer to the submission (``{}`` when it is empty)."""
        response = self.client.submit_view(
            "mail_connect",
            values,
            user,
            private_metadata=json.dumps({"mailbox_id": mailbox_id}),
            **kwargs,
        )
        assert response.status_code == 200, response.text
        return response.json() if response.content else {}

    def wait_for_mailbox(self, address: str) -> Mailbox:
        """The mailbox saved for ``address``, once its first scheduled sync is done.

        Connecting (by hand or by sign-in) schedules a first sync a moment later; waiting for
        it means a test's own h.sync() never races it for the mail the test delivers next.
        """
        mailbox = wait_until(lambda: self.mailbox_by_address(address), message="mailbox saved")
        if self.ctx.scheduler.running and self.ctx.scheduler.has(f"sync:{mailbox.id}"):
            mailbox = wait_until(
                lambda: _synced_once(self, mailbox.id),
                timeout=30,
                message=f"the first scheduled sync of {address}",
            )
        return mailbox

    def mailbox_by_address(self, address: str) -> Mailbox | None:
        for mailbox in self.ctx.mailboxes.all():
            if mailbox.address == address:
                return mailbox
        return None

    def sync(self, mailbox_id: int, timeout: float = 20.0) -> SyncResult:
        """Run one sync now (waiting out a scheduled run that holds the lease)."""
        return wait_until(
            lambda: _ran(self.ctx.sync.run(mailbox_id)),
            timeout=timeout,
            message=f"a sync of mailbox {mailbox_id} to run",
        )

    def deliver(self, account: MailAccount, raw: bytes, folder: str = "INBOX") -> None:
        self.dovecot.append(account.address, raw, folder=folder)

    def reply(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        *,
        user: str = "UALICE",
        event_id: str | None = None,
        retry_num: int | None = None,
        files: list[dict] | None = None,
    ) -> httpx.Response:
        ts = f"{1800000000 + uuid.uuid4().int % 100000000 / 1000:.6f}"
        event = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "thread_ts": thread_ts,
            "channel_type": "channel",
        }
        if files:
            event["files"] = files
            event["subtype"] = "file_share"
        return self.client.event(
            event, event_id=event_id or f"Ev{uuid.uuid4().hex[:10]}", retry_num=retry_num
        )


def _synced_once(h: Harness, mailbox_id: int) -> Mailbox | None:
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    return mailbox if mailbox is not None and mailbox.last_sync_at is not None else None


def _ran(result: SyncResult) -> SyncResult | None:
    return result if result.ran else None


def app_env(slack: FakeSlack, database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "DATABASE_URL": database_url,
        "MAILROOM_DATA_DIR": str(data_dir),
        "MAILROOM_ALLOWED_PRIVATE_HOSTS": "127.0.0.1,localhost",
        "SYNC_INTERVAL_SECONDS": "3600",
        "IMAP_TIMEOUT_SECONDS": "5",
        "SMTP_TIMEOUT_SECONDS": "5",
        # Most tests drive syncs themselves (h.sync) and count what each run found: push
        # would sync first. Push tests turn it on (tests/bot/push).
        "SYNC_PUSH": "off",
        # Replies leave at once unless a test opens the undo window itself.
        "REPLY_UNDO_SECONDS": "0",
    }
    if not database_url.startswith("sqlite"):
        env["MAILROOM_SECRET_KEY"] = "kV6x1a6mX7f2wWnq9Yc7dY1i6l7m9v0hQ2bE6sT3uJ8="
    env.update(extra)
    return env


@pytest.fixture
def slack_fake() -> Iterator[FakeSlack]:
    # Wall-clock timestamps: crash recovery looks Slack history up by time.
    with FakeSlack(ts_base=None, trigger_ttl=None) as fake:
        for user, admin in (
            ("UADMIN", True),
            ("USALES", False),
            ("UALICE", False),
            ("UBOB", False),
        ):
            fake.add_user(
                user,
                name=user.lower(),
                real_name=user.title(),
                email=f"{user.lower()}@example.com",
                is_admin=admin,
            )
        yield fake


def build_harness(
    monkeypatch: pytest.MonkeyPatch,
    slack: FakeSlack,
    database_url: str,
    data_dir: Path,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    **extra: str,
) -> Harness:
    env = app_env(slack, database_url, data_dir, **extra)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(_env_file=None)
    mailroom = create_mailroom(settings, register_listeners)
    mailroom.start_background()
    client = SlackClientForTests(TestClient(mailroom.web), SIGNING_SECRET, fake_slack=slack)
    return Harness(mailroom, slack, client, dovecot, smtp, env)


class HarnessFactory:
    """Builds in-process apps with extra settings, and stops every one after the test.

    ``harness_with(SYNC_INTERVAL_SECONDS="1")`` is the app on a fresh SQLite file with that
    setting; ``database_url=`` and ``dovecot=`` swap the database or the IMAP server.
    """

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        slack: FakeSlack,
        tmp_path: Path,
        dovecot: DovecotServer,
        smtp: SmtpServer,
    ) -> None:
        self.monkeypatch, self.slack, self.tmp_path = monkeypatch, slack, tmp_path
        self.dovecot, self.smtp = dovecot, smtp
        self.built: list[Harness] = []

    def __call__(
        self, *, database_url: str | None = None, dovecot: DovecotServer | None = None, **env: str
    ) -> Harness:
        n = len(self.built)
        h = build_harness(
            self.monkeypatch,
            self.slack,
            database_url or f"sqlite:///{self.tmp_path / f'mailroom{n}.db'}",
            self.tmp_path / f"data{n}",
            dovecot or self.dovecot,
            self.smtp,
            **env,
        )
        self.built.append(h)
        return h

    def close(self) -> None:
        for h in self.built:
            h.mailroom.stop()
            h.ctx.db.dispose()


@pytest.fixture
def harness_with(
    monkeypatch: pytest.MonkeyPatch,
    slack_fake: FakeSlack,
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
) -> Iterator[HarnessFactory]:
    factory = HarnessFactory(monkeypatch, slack_fake, tmp_path, dovecot, smtp_server)
    yield factory
    factory.close()


@pytest.fixture
def harness(harness_with: HarnessFactory) -> Harness:
    """The app on SQLite with every real part; see ``harness_any_db`` for PostgreSQL too."""
    return harness_with()


@pytest.fixture
def harness_any_db(harness_with: HarnessFactory, database_url: str) -> Harness:
    return harness_with(database_url=database_url)


# --- The real process -------------------------------------------------------------------------


class AppProcess:
    """``python app.py`` in a subprocess, on a free port, with the given environment."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = cwd / f"app-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> AppProcess:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            cwd=self.cwd,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        if wait:
            # A process that exits fails at once (``_healthy``); the long deadline is only for
            # a loaded machine, where importing and migrating can take many seconds.
            wait_until(
                self._healthy, timeout=90, message=f"app to answer /healthz (log {self.log})"
            )
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"app exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """kill -9: no cleanup, no goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a frozen (SIGSTOP) one must be able to stop
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> SlackClientForTests:
        return SlackClientForTests(httpx.Client(base_url=self.url, timeout=30), SIGNING_SECRET)

    def knows_thread(self, channel: str, thread_ts: str) -> bool:
        """Whether the app has recorded the Slack thread as one of its conversations.

        The root post shows up in Slack a moment before the app stores its ts; a reply sent
        in that moment would not (yet) be recognised as a reply to a Mailroom thread.
        """
        found = query_scalar(
            self.env["DATABASE_URL"],
            "SELECT 1 FROM conversations WHERE channel_id = :c AND thread_ts = :t",
            c=channel,
            t=thread_ts,
        )
        return found is not None


@pytest.fixture
def processes() -> Iterator[list[AppProcess]]:
    """The app processes a test starts with ``launch``: all stopped when it ends."""
    started: list[AppProcess] = []
    yield started
    for app in started:
        app.stop()


def launch(processes: list[AppProcess], env: dict[str, str], cwd: Path, **extra: str) -> AppProcess:
    """Start ``python app.py`` with ``env`` (and ``extra`` settings) and keep it in
    ``processes`` (the fixture), so it is stopped however the test ends."""
    app = AppProcess({**env, **extra}, cwd)
    processes.append(app)
    return app.start()
