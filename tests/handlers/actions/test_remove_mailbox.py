"""Remove a mailbox from Mailroom: the button of /mail-status, through signed requests, with
real Dovecot and aiosmtpd and the fake Slack."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from storage.models import Mailbox, Message
from tests.support.ephemerals import ephemeral_to, status_for
from tests.support.harness import Harness, make_email

CHANNEL = "C_SALES"


def remove_button(status: dict[str, Any], mailbox_id: int) -> dict[str, Any] | None:
    for block in status["blocks"] or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == "mailbox_remove" and element.get("value") == str(
                mailbox_id
            ):
                return element
    return None


def row(h: Harness, mailbox_id: int) -> Mailbox:
    mailbox = h.ctx.mailboxes.get_even_removed(mailbox_id)
    assert mailbox is not None
    return mailbox


def replies_recorded(h: Harness, mailbox_id: int) -> list[Message]:
    with h.ctx.db.session() as session:
        return list(
            session.exec(
                select(Message).where(Message.mailbox_id == mailbox_id, Message.direction == "out")
            )
        )


def test_removing_a_mailbox_stops_it_wipes_its_secrets_and_allows_connecting_it_again(
    harness: Harness,
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    assert mailbox.id is not None
    h.deliver(account, make_email(to=account.address, subject="Before removal"))
    assert h.sync(mailbox.id).posted == 1
    thread_ts = h.slack.top_level(CHANNEL)[-1]["ts"]

    # Only who may manage it sees the button, and the button asks before it acts.
    assert remove_button(status_for(h, "UBOB"), mailbox.id) is None
    button = remove_button(status_for(h, "UALICE"), mailbox.id)
    assert button is not None
    assert account.address in button["confirm"]["text"]["text"]
    assert "Its threads stay in Slack" in button["confirm"]["text"]["text"]

    # Someone else's click (an old message, a forged request) changes nothing.
    h.client.action("mailbox_remove", str(mailbox.id), "UBOB")
    ephemeral_to(h, "UBOB", "can remove it")
    kept = row(h, mailbox.id)
    assert kept.removed_at is None and kept.active and kept.secrets
    assert h.ctx.scheduler.has(f"sync:{mailbox.id}")

    h.client.action("mailbox_remove", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", f"{account.address} was removed from Mailroom")
    removed = row(h, mailbox.id)
    assert removed.removed_at is not None and not removed.active
    assert removed.secrets is None and removed.token_expires_at is None
    assert h.ctx.mailboxes.get(mailbox.id) is None
    assert not h.ctx.scheduler.has(f"sync:{mailbox.id}")
    assert account.address not in json.dumps(status_for(h, "UALICE")["blocks"])
    assert account.address not in json.dumps(status_for(h, "UADMIN")["blocks"])

    # Mail arriving afterwards is not fetched: no sync runs for it.
    posted = len(h.slack.top_level(CHANNEL))
    h.deliver(account, make_email(to=account.address, subject="After removal"))
    assert not h.ctx.sync.run(mailbox.id).ran
    assert len(h.slack.top_level(CHANNEL)) == posted

    # A reply in an old thread is refused with a sentence, and nothing is queued or sent.
    h.reply(CHANNEL, thread_ts, "Are you still there?", user="UALICE")
    refusal = ephemeral_to(h, "UALICE", "so this reply was not sent")
    assert account.address in refusal["text"]
    assert replies_recorded(h, mailbox.id) == []
    assert h.smtp.messages == []

    # The thread's own buttons (assign, done...) say so too.
    root = next(m for m in h.slack.top_level(CHANNEL) if m["ts"] == thread_ts)
    h.client.action("triage_assign_me", None, "UALICE", channel_id=CHANNEL, message=root)
    ephemeral_to(h, "UALICE", "nothing more can be done with it here")

    # Its buttons on older messages find nothing to act on.
    h.client.action("mailbox_toggle_active", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", "That mailbox no longer exists")
    assert not row(h, mailbox.id).active

    # The same address connects again (a personal mailbox per person ignores removed ones).
    again = h.connect(account, user="UALICE")
    assert again.id is not None and again.id != mailbox.id
    h.deliver(account, make_email(to=account.address, subject="Connected again"))
    assert h.sync(again.id).posted == 1
    assert "Connected again" in json.dumps(h.slack.top_level(CHANNEL)[-1].get("blocks"))
    assert row(h, mailbox.id).removed_at is not None
