"""Helpers for push tests: mailboxes connected live, and their posts."""

from __future__ import annotations

import json
import time

from bot.push import engine_of
from bot.push.watcher import State
from tests.support.harness import Harness, MailAccount
from tests.support.wait import wait_until


def email_posts(h: Harness, channel: str) -> list[dict]:
    return [
        m
        for m in h.slack.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == "mailroom_email"
    ]


def posts_with(h: Harness, channel: str, words: str) -> list[dict]:
    return [m for m in email_posts(h, channel) if words in json.dumps(m)]


def wait_live(h: Harness, mailbox_id: int, timeout: float = 15.0) -> None:
    engine = engine_of(h.ctx)
    assert engine is not None
    wait_until(
        lambda: (found := engine.state_of(mailbox_id)) is not None and found[0] == State.LIVE,
        timeout=timeout,
        message=f"mailbox {mailbox_id} live",
    )


def connect_live(
    h: Harness, channel: str, *, user: str = "UALICE", **kwargs: str
) -> tuple[MailAccount, int]:
    account = h.new_account()
    mailbox = h.connect(account, channel=channel, user=user, **kwargs)
    wait_live(h, mailbox.id)  # type: ignore[arg-type]
    return account, mailbox.id  # type: ignore[return-value]


def seconds_until_posted(h: Harness, channel: str, subject: str, timeout: float) -> float:
    started = time.monotonic()
    wait_until(lambda: posts_with(h, channel, subject), timeout=timeout, message=subject)
    return time.monotonic() - started
