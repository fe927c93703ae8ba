"""Mail set aside: one mail never stalls its mailbox.

A mail that cannot be recorded (``bot.sync.recording``) or posted (``bot.sync.posting``) is
tried again on the next syncs while the cursor moves on, and after ``mail_max_failures`` tries
it is set aside (``MessageState.INGEST_FAILED``) with a notice and a Retry button in its
channel; the people who fix the mailbox are told once. A notice Slack refused is tried again
on later syncs for ``FAILURE_NOTICE_WINDOW``.

Recording and posting both set mail aside, so this lives apart from either of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col, select

from bot.blocks.email import mail_failure_admin_text, mail_failure_blocks
from bot.mailboxes import MAILBOX_REMOVED
from bot.roles import who_fixes
from bot.sync.health import notify_once
from locales import _, speaking
from storage.models import Conversation, Mailbox, Message, MessageState, saved_id, utcnow

if TYPE_CHECKING:
    from bot.core import Core

# How long a set-aside mail's notice is retried when it could not be posted.
FAILURE_NOTICE_WINDOW = timedelta(days=2)


def count_failure(row: Message, reason: str, max_failures: int) -> bool:
    """One more failure of this mail (recording or posting it), noted on its row; True when
    it has failed ``max_failures`` times and is now set aside (INGEST_FAILED)."""
    row.failures += 1
    row.error = reason
    row.updated_at = utcnow()
    if row.failures < max_failures:
        return False
    row.state = MessageState.INGEST_FAILED
    return True


class SetAside:
    """The notices of set-aside mail, and their Retry button."""

    def __init__(self, ctx: Core, sync_now: Callable[[int], None]) -> None:
        self.ctx = ctx
        # SyncService.sync_now: a retried mail is taken up by the next sync of its mailbox,
        # wherever that mailbox is owned.
        self.sync_now = sync_now

    def announce(self, mailbox: Mailbox, row: Message) -> None:
        """A notice with a Retry button in the mail's channel; the admins are told once."""
        with self.ctx.db.session() as session:
            conversation = (
                session.get(Conversation, row.conversation_id) if row.conversation_id else None
            )
        channel = (conversation.channel_id if conversation else None) or mailbox.channel_id
        reason = row.error or _("Mailroom could not show it.")
        if channel:
            text, blocks = mail_failure_blocks(row, reason)
            notify_once(self.ctx, _failure_notice_key(row), channel, text, blocks)
        for recipient in who_fixes(self.ctx.settings, mailbox):
            with speaking(self.ctx.languages.for_recipient(recipient)):
                text = mail_failure_admin_text(mailbox, row, reason, channel)
            notify_once(self.ctx, f"mail-failed-told:{row.id}:{recipient}", recipient, text)

    def announce_unannounced(self, mailbox: Mailbox) -> None:
        """Set-aside mail of the last days whose notice did not go out (Slack failed, or the
        process died in between): try the notice again."""
        since = utcnow() - FAILURE_NOTICE_WINDOW
        with self.ctx.db.session() as session:
            rows = session.exec(
                select(Message).where(
                    Message.mailbox_id == mailbox.id,
                    Message.state == MessageState.INGEST_FAILED,
                    col(Message.updated_at) >= since,
                )
            ).all()
        for row in rows:
            if not self.ctx.notifier.was_sent(_failure_notice_key(row)):
                self.announce(mailbox, row)

    def retry(self, message_row_id: int, user_id: str) -> str | None:
        """The Retry button of a set-aside mail. Returns a refusal, or None when queued."""
        with self.ctx.db.session() as session:
            row = session.get(Message, message_row_id)
            if row is None or row.direction != "in" or row.state != MessageState.INGEST_FAILED:
                return _("That email is not waiting to be retried any more.")
            mailbox = session.get(Mailbox, row.mailbox_id)
        if mailbox is None:
            return _("That mailbox no longer exists.")
        if mailbox.removed_at is not None:
            return _(MAILBOX_REMOVED).format(address=mailbox.address)
        if not self.ctx.roles.can_see(user_id, mailbox):
            return _("Only an admin or someone who can see {address} can retry its mail.").format(
                address=mailbox.address
            )
        # A mail that failed while being recorded has no conversation yet: record it again
        # (by folder + UID); one that failed while being posted is posted again.
        state = (
            MessageState.RECORD_RETRY if row.conversation_id is None else MessageState.PENDING_POST
        )
        with self.ctx.db.session() as session:
            session.exec(
                update(Message)
                .where(
                    col(Message.id) == message_row_id,
                    col(Message.state) == MessageState.INGEST_FAILED,
                )
                .values(state=state, failures=0, updated_at=utcnow())
            )
        self.sync_now(saved_id(mailbox))
        return None


def _failure_notice_key(row: Message) -> str:
    # Keyed by attempt: after a Retry that fails again, a new notice goes out.
    return f"mail-failed:{row.id}:{row.attempts}"
