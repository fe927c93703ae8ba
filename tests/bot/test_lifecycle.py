"""MailboxLifecycle on a real SQLite database, a real (not started) scheduler and the fake
Slack (roles ask it who is an admin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.fernet import Fernet

from bot.events import Signal
from bot.lifecycle import MailboxLifecycle
from bot.mailboxes import Mailboxes
from bot.roles import Roles
from bot.scheduler import Scheduler
from bot.slack_client import Slack, make_web_client
from providers.errors import UserError
from storage.crypto import SecretBox
from storage.db import Database
from storage.models import Mailbox
from tests.support.fake_slack import FakeSlack
from tests.support.harness import BOT_TOKEN


class World:
    def __init__(self, tmp_path: Path, slack: FakeSlack) -> None:
        self.db = Database(f"sqlite:///{tmp_path / 'lifecycle.db'}")
        self.db.migrate()
        self.mailboxes = Mailboxes(self.db, SecretBox([Fernet.generate_key().decode()]))
        self.scheduler = Scheduler(300)
        self.guards: list[Any] = []
        self.changed: Signal[[int]] = Signal("mailbox_changed")
        self.heard: list[int] = []
        self.changed.connect(lambda mailbox_id: self.heard.append(mailbox_id))
        slack_client = Slack(make_web_client(BOT_TOKEN, slack.base_url))
        roles = Roles(self.db, slack_client, [])
        self.lifecycle = MailboxLifecycle(
            self.mailboxes, roles, self.scheduler, lambda _id: None, self.guards, self.changed
        )

    def mailbox(self, **fields: Any) -> Mailbox:
        row = Mailbox(
            team_id="T1", kind="personal", owner_id="UOWNER", address="ana@acme.test", **fields
        )
        with self.db.session() as session:
            session.add(row)
            session.flush()
            mailbox_id = row.id
        found = self.mailboxes.get(cast(int, mailbox_id))
        assert found is not None
        return found


@pytest.fixture
def world(tmp_path: Path, slack_fake: FakeSlack) -> Iterator[World]:
    w = World(tmp_path, slack_fake)
    yield w
    w.db.engine.dispose()


def test_pause_unschedules_and_announces(world: World) -> None:
    mailbox = world.mailbox(active=True, channel_id="C1")
    world.lifecycle.start_syncing(mailbox)
    assert world.scheduler.has(f"sync:{mailbox.id}")
    paused = world.lifecycle.set_active("UOWNER", mailbox, False)
    assert paused.active is False
    assert world.mailboxes.get(cast(int, mailbox.id)).active is False  # type: ignore[union-attr]
    assert not world.scheduler.has(f"sync:{mailbox.id}")
    assert world.heard == [mailbox.id]


def test_activate_schedules_and_announces(world: World) -> None:
    mailbox = world.mailbox(active=False, channel_id="C1")
    world.lifecycle.set_active("UOWNER", mailbox, True)
    assert world.scheduler.has(f"sync:{mailbox.id}")
    assert world.heard == [mailbox.id]


def test_a_guard_refuses_activation_and_nothing_changes(world: World) -> None:
    world.guards.append(lambda m: f"{m.address} is not verified")
    mailbox = world.mailbox(active=False, channel_id="C1")
    with pytest.raises(UserError, match="not verified"):
        world.lifecycle.set_active("UOWNER", mailbox, True)
    assert world.mailboxes.get(cast(int, mailbox.id)).active is False  # type: ignore[union-attr]
    assert not world.scheduler.has(f"sync:{mailbox.id}")
    assert world.heard == []


def test_someone_else_cannot_pause_a_personal_mailbox(world: World) -> None:
    mailbox = world.mailbox(active=True, channel_id="C1")
    with pytest.raises(UserError, match="Only an admin"):
        world.lifecycle.set_active("UBOB", mailbox, False)
    assert world.heard == []
    world.lifecycle.set_active("UADMIN", mailbox, False)
    assert world.heard == [mailbox.id]


def test_channel_choice_is_kept_when_refused_and_activates_otherwise(world: World) -> None:
    refusing = ["SES not verified"]
    world.guards.append(lambda _m: refusing[0] if refusing else None)
    mailbox = world.mailbox(active=False)
    saved, refusal = world.lifecycle.activate_in_channel("UOWNER", mailbox, "C9")
    assert refusal == "SES not verified"
    assert saved.channel_id == "C9" and saved.active is False
    assert world.heard == []
    refusing.clear()
    saved, refusal = world.lifecycle.activate_in_channel("UOWNER", saved, "C9")
    assert refusal is None and saved.active is True
    assert world.scheduler.has(f"sync:{mailbox.id}")
    assert world.heard == [mailbox.id]


def test_hide_and_show_keep_the_sync_and_announce(world: World) -> None:
    mailbox = world.mailbox(active=True, channel_id="C1")
    world.lifecycle.start_syncing(mailbox)
    with pytest.raises(UserError, match="hide or show"):
        world.lifecycle.set_visible("UBOB", mailbox, False)
    assert world.heard == []
    hidden = world.lifecycle.set_visible("UOWNER", mailbox, False)
    assert hidden.visible is False and hidden.active is True
    assert world.scheduler.has(f"sync:{mailbox.id}")  # hiding is not pausing
    shown = world.lifecycle.set_visible("UOWNER", hidden, True)
    assert shown.visible is True
    assert world.heard == [mailbox.id, mailbox.id]


def test_only_a_manager_may_reconnect(world: World) -> None:
    mailbox = world.mailbox(active=True, channel_id="C1")
    with pytest.raises(UserError, match="can reconnect it"):
        world.lifecycle.check_can_reconnect("UBOB", mailbox)
    assert not world.lifecycle.may_reconnect("UBOB", mailbox)
    assert world.lifecycle.may_reconnect("UOWNER", mailbox)
    world.lifecycle.check_can_reconnect("UOWNER", mailbox)
    world.lifecycle.check_can_reconnect("UADMIN", mailbox)


def test_saved_credentials_start_health_over_sync_at_once_and_announce(world: World) -> None:
    mailbox = world.mailbox(
        active=True,
        channel_id="C1",
        health="reconnect_needed",
        last_error="authentication failed",
        consecutive_failures=4,
    )
    connected = world.lifecycle.connected(mailbox)
    saved = world.mailboxes.get(cast(int, mailbox.id))
    assert saved is not None
    for row in (connected, saved):
        assert (row.health, row.last_error, row.consecutive_failures) == ("new", None, 0)
    assert world.scheduler.has(f"sync:{mailbox.id}")
    assert world.heard == [mailbox.id]


def test_saved_credentials_of_an_inactive_mailbox_schedule_nothing(world: World) -> None:
    mailbox = world.mailbox(active=False)
    world.lifecycle.connected(mailbox)
    assert not world.scheduler.has(f"sync:{mailbox.id}")
    assert world.heard == [mailbox.id]


def test_someone_else_cannot_remove_a_personal_mailbox_and_nothing_changes(world: World) -> None:
    mailbox = world.mailbox(
        active=True, channel_id="C1", secrets=world.mailboxes.seal({"imap_password": "pw"})
    )
    world.lifecycle.start_syncing(mailbox)
    with pytest.raises(UserError, match="can remove it"):
        world.lifecycle.remove("UBOB", mailbox)
    kept = world.mailboxes.get(cast(int, mailbox.id))
    assert kept is not None and kept.active and kept.removed_at is None
    assert world.mailboxes.secrets(kept) == {"imap_password": "pw"}
    assert world.scheduler.has(f"sync:{mailbox.id}")
    assert world.heard == []


def test_remove_unschedules_wipes_secrets_hides_and_announces(world: World) -> None:
    mailbox = world.mailbox(
        active=True,
        channel_id="C1",
        secrets=world.mailboxes.seal({"access_token": "at", "refresh_token": "rt"}),
    )
    mailbox_id = cast(int, mailbox.id)
    world.lifecycle.start_syncing(mailbox)
    removed = world.lifecycle.remove("UOWNER", mailbox)
    assert removed.removed_at is not None and removed.active is False
    assert not world.scheduler.has(f"sync:{mailbox_id}")
    assert world.heard == [mailbox_id]
    row = world.mailboxes.get_even_removed(mailbox_id)
    assert row is not None and row.secrets is None and row.token_expires_at is None
    # Gone from every lookup: by id, lists, the active ones, a channel, duplicates.
    assert world.mailboxes.get(mailbox_id) is None
    assert world.mailboxes.all() == [] and world.mailboxes.all("T1") == []
    assert world.mailboxes.active_ids() == []
    assert world.mailboxes.by_channel("C1") == []
    assert world.mailboxes.find_existing("T1", "personal", "UOWNER") is None
    # A token refresh finishing after the removal does not bring the secrets back.
    world.mailboxes.update_secrets(mailbox_id, access_token="late")
    again = world.mailboxes.get_even_removed(mailbox_id)
    assert again is not None and again.secrets is None
