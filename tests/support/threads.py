"""A customer's mail posted as a Slack thread, and what tests read back from it."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.models import Message
from tests.support.harness import Harness, MailAccount, make_email
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def open_thread(
    h: Harness,
    *,
    user: str = "UALICE",
    kind: str = "personal",
    channel: str = CHANNEL,
    **email: str,
) -> tuple[MailAccount, int, str]:
    """Connect a mailbox, let a customer mail arrive; return (account, mailbox id, thread ts)."""
    account = h.new_account()
    mailbox = h.connect(account, user=user, kind=kind, channel=channel)
    email.setdefault("subject", "Question about pricing")
    h.deliver(account, make_email(to=account.address, **email))
    return account, mailbox.id, _posted_root(h, mailbox.id, channel)["ts"]


def outbound_rows(h: Harness, mailbox_id: int) -> list[Message]:
    """Replies recorded from Slack messages (not mail found in the Sent folder)."""
    with h.ctx.db.session() as session:
        return list(
            session.exec(
                select(Message).where(
                    Message.mailbox_id == mailbox_id,
                    Message.direction == "out",
                    Message.source_ts.is_not(None),
                )
            )
        )


def reactions(h: Harness, name: str) -> list[str]:
    return [
        c.params["timestamp"]
        for c in h.slack.calls_to("reactions.add")
        if c.params.get("name") == name
    ]


def ephemeral_to(h: Harness, user: str, words: str) -> dict:
    return wait_until(
        lambda: next((e for e in h.slack.ephemerals(user) if words in e["text"]), None),
        message=f"ephemeral to {user} saying {words!r}",
    )


def open_posted_thread(h: Harness, **email: str) -> tuple[int, str, dict]:
    """A personal mailbox of UALICE with one customer mail posted: (mailbox id, ts, root)."""
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", channel=CHANNEL)
    h.deliver(account, make_email(to=account.address, **email))
    root = _posted_root(h, mailbox.id, CHANNEL)
    return mailbox.id, root["ts"], root


def _posted_root(h: Harness, mailbox_id: int, channel: str) -> dict:
    """The customer's mail as the channel's one post: this sync posts it, or a scheduled one
    that got the mailbox's lease first does (then this one finds nothing new)."""
    h.sync(mailbox_id)
    [root] = wait_until(lambda: h.slack.top_level(channel), message="the customer's mail posted")
    return root


def rendered(message: dict) -> str:
    """What a Slack message shows: its blocks and its text."""
    return json.dumps(message.get("blocks") or []) + message.get("text", "")


def thread_note(h: Harness, ts: str, words: str) -> dict:
    """The message of thread ``ts`` saying ``words``, once it is there."""
    return wait_until(
        lambda: next((m for m in h.slack.thread(CHANNEL, ts) if words in rendered(m)), None),
        message=f"a thread message saying {words!r}",
    )
