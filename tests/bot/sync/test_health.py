"""A failing mailbox's health (bot/sync/health.py): counted on every sync, and the people
who can fix it told once per streak of failures, and once when it recovers."""

from __future__ import annotations

import json

import pytest

from tests.support.harness import Harness, HarnessFactory


def dms(h: Harness, user: str, words: str) -> list[dict]:
    return [m for m in h.slack.messages(user) if words in m.get("text", "")]


def test_wrong_password_notifies_the_owner_once_and_recovery_once(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    h.dovecot.add_user(account.address, "changed-elsewhere")

    first = h.sync(mailbox.id)
    assert first.error and "refused the username or password" in first.error
    broken = h.ctx.mailboxes.get(mailbox.id)
    assert broken.health == "needs_attention"
    assert "refused the username or password" in broken.last_error
    assert not dms(h, "UALICE", "cannot sync")  # one failure is not worth a message yet

    for _ in range(5):
        assert h.sync(mailbox.id).error
    assert h.ctx.mailboxes.get(mailbox.id).consecutive_failures == 6
    alerts = dms(h, "UALICE", "cannot sync")
    assert len(alerts) == 1
    assert account.address in alerts[0]["text"]
    buttons = [
        e["action_id"] for b in alerts[0]["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == ["mailbox_sync_now", "mailbox_reconnect"]
    assert "changed-elsewhere" not in json.dumps(h.slack.messages("UALICE"))

    h.dovecot.add_user(account.address, account.password)
    for _ in range(2):
        assert h.sync(mailbox.id).error is None
    assert h.ctx.mailboxes.get(mailbox.id).health == "ok"
    assert len(dms(h, "UALICE", "syncing again")) == 1
    assert len(dms(h, "UALICE", "cannot sync")) == 1


@pytest.fixture
def admin_channel(harness_with: HarnessFactory) -> Harness:
    return harness_with(MAILROOM_ADMIN_CHANNEL="C_ADMINS")


def test_failing_shared_mailbox_alerts_the_admin_channel_once(admin_channel: Harness) -> None:
    h = admin_channel
    account = h.new_account()
    mailbox = h.connect(account, user="UADMIN", kind="shared")
    h.dovecot.add_user(account.address, "rotated")
    for _ in range(4):
        h.sync(mailbox.id)
    alerts = [m for m in h.slack.messages("C_ADMINS") if "cannot sync" in m.get("text", "")]
    assert len(alerts) == 1
    assert not dms(h, "UADMIN", "cannot sync")
