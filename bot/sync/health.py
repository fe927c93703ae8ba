"""A mailbox's sync health: each sync's outcome counted, and the people who can fix a failing
mailbox told once per streak of failures.

A streak starts after the last successful sync (``streak_key``). Its "failing" notice goes out
after ``sync_failure_threshold`` failures in a row, or at once for the states only a person
can fix (``IMMEDIATE_HEALTH``); its "recovered" notice goes out on the next success, and only
if the failing one did. Features may tell of a failure in their own way first
(``FailureNotifier``: sign-in sends a reconnect or consent link).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.blocks.email import sync_failure_blocks, sync_recovered_text
from bot.mailboxes import health_after
from bot.roles import who_fixes
from locales import speaking
from providers.errors import MailroomError
from storage.models import Health, Mailbox, Notification, saved_id, utcnow

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

# Health states that need a person at once, not after a few tries.
IMMEDIATE_HEALTH = {Health.RECONNECT_NEEDED, Health.ADMIN_APPROVAL_NEEDED}

# Tells someone about a failing mailbox in its own way (consent link, admin alert...);
# returns True when it handled the notification, so the generic one is not sent.
FailureNotifier = Callable[[Mailbox, MailroomError], bool]


class HealthTracker:
    """Counts each sync's outcome into the mailbox's health and sends the streak's notices.

    Called by whoever ran the sync: ``SyncService.run`` for a poll, the push engine
    (``bot.push``) for a sync over its persistent connection."""

    def __init__(self, ctx: Core, failure_notifiers: list[FailureNotifier]) -> None:
        self.ctx = ctx
        # SyncService's list, which features append to (``ctx.sync.failure_notifiers``).
        self.failure_notifiers = failure_notifiers

    def on_success(self, mailbox: Mailbox, new: int) -> None:
        streak = streak_key(mailbox)
        _health, was_failing = self.ctx.mailboxes.record_success(saved_id(mailbox), new)
        if was_failing and self.ctx.notifier.was_sent(f"sync-failing:{streak}"):
            for recipient in who_fixes(self.ctx.settings, mailbox):
                with speaking(self.ctx.languages.for_recipient(recipient)):
                    text = sync_recovered_text(mailbox)
                notify_once(self.ctx, f"sync-recovered:{streak}:{recipient}", recipient, text)

    def on_failure(self, mailbox: Mailbox, error: MailroomError) -> None:
        health = health_after(error)
        updated = self.ctx.mailboxes.record_failure(saved_id(mailbox), error.message, health)
        log.info(
            "mailbox %s sync failed (%s in a row): %s",
            mailbox.id,
            updated.consecutive_failures,
            error.message,
        )
        threshold = self.ctx.settings.sync_failure_threshold
        if updated.consecutive_failures < threshold and health not in IMMEDIATE_HEALTH:
            return
        streak = streak_key(mailbox)
        for notifier in self.failure_notifiers:
            if notifier(updated, error):
                self.ctx.db.insert_once(_marker(f"sync-failing:{streak}"))
                return
        sent_any = False
        for recipient in who_fixes(self.ctx.settings, mailbox):
            with speaking(self.ctx.languages.for_recipient(recipient)):
                text, blocks = sync_failure_blocks(updated, error.message)
            sent_any |= notify_once(
                self.ctx, f"sync-failing:{streak}:{recipient}", recipient, text, blocks
            )
        if sent_any:
            self.ctx.db.insert_once(_marker(f"sync-failing:{streak}"))


def notify_once(
    ctx: Core, key: str, recipient: str, text: str, blocks: list[dict[str, Any]] | None = None
) -> bool:
    """Send a notice once per ``key``; True when it went out. A Slack refusal is logged, not
    raised: a notice that cannot be sent must not fail the sync that wanted to send it."""
    try:
        return ctx.notifier.once(key, recipient, text, blocks=blocks)
    except SlackApiError as exc:
        log.warning("could not notify %s: %s", recipient, exc.response.get("error"))
        return False


def streak_key(mailbox: Mailbox) -> str:
    """Identifies one run of failures: it starts after the last successful sync."""
    since = mailbox.last_success_at or mailbox.created_at
    return f"{mailbox.id}:{since.isoformat()}"


def _marker(key: str) -> Notification:
    """A sent-notification record with no message: remembers that a streak was reported."""
    return Notification(key=key, recipient="-", sent_at=utcnow())
