"""The mailbox buttons of /mail-status (Sync now, Pause/Activate), through signed requests."""

from __future__ import annotations

import json

from tests.support.ephemerals import ephemeral_to, status_for
from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until


def test_sync_now_button_brings_mail_in(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    h.deliver(account, make_email(to=account.address, subject="Fetched on demand"))

    h.client.action("mailbox_sync_now", str(mailbox.id), "UBOB")
    ephemeral_to(h, "UBOB", "cannot see this mailbox")
    h.client.action("mailbox_sync_now", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", f"Syncing {account.address} now")
    wait_until(
        lambda: any(
            "Fetched on demand" in json.dumps(m.get("blocks")) for m in h.slack.top_level("C_SALES")
        ),
        message="the mail posted by Sync now",
    )


def test_pause_stops_syncing_and_activate_resumes(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")

    h.client.action("mailbox_toggle_active", str(mailbox.id), "UBOB")
    ephemeral_to(h, "UBOB", "Only an admin (or the owner")
    assert h.ctx.mailboxes.get(mailbox.id).active

    h.client.action("mailbox_toggle_active", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", "is paused")
    assert not h.ctx.mailboxes.get(mailbox.id).active
    assert not h.ctx.scheduler.has(f"sync:{mailbox.id}")
    h.deliver(account, make_email(to=account.address, subject="While paused"))
    assert not h.ctx.sync.run(mailbox.id).ran
    h.client.action("mailbox_sync_now", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", "is paused. Activate it first")
    assert "inactive" in json.dumps(status_for(h, "UALICE")["blocks"])

    h.client.action("mailbox_toggle_active", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", "is active again")
    assert h.ctx.scheduler.has(f"sync:{mailbox.id}")
    # The resumed job runs by itself and catches up with what arrived while paused.
    wait_until(
        lambda: any(
            "While paused" in json.dumps(m.get("blocks")) for m in h.slack.top_level("C_SALES")
        ),
        message="mail that arrived while paused",
    )
