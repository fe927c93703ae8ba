"""Messages about replies that Mailroom sends on someone's behalf."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import Block, actions, button, context, section
from bot.blocks.email import recipients_text
from bot.blocks.inbox import slack_time, when_modal
from bot.formatting.slack_text import escape, truncate
from storage.models import Message


def send_failed_blocks(row: Message, reason: str) -> tuple[str, list[Block]]:
    who = f"<@{row.author_id}>" if row.author_id else "Your"
    # The notification text is parsed by Slack like the blocks: the address and the
    # server's answer are remote text, so they are escaped here too.
    text = (
        f":x: {who}, your reply to {escape(row.to_addresses)} was not sent. {escape(reason)} "
        "Fix that and press Try again, or post the reply again."
    )
    return text, [
        section(
            f":x: {who}, your reply to {escape(row.to_addresses)} was *not sent*.\n{escape(reason)}"
        ),
        actions(button("Try again", "reply_retry", str(row.id), style="primary")),
    ]


def sent_confirmation_blocks(recipients: list[str], left_out: list[str]) -> tuple[str, list[Block]]:
    """The thread note once a reply is sent: the real recipients, and any files left out."""
    text = truncate(f":white_check_mark: Reply sent to {recipients_text(recipients)}.", 2900)
    notes = []
    if left_out:
        names = truncate(", ".join(escape(n) for n in left_out), 1500)
        notes.append(
            f":paperclip: Not attached: {names}. Those are links to files kept outside "
            "Slack; put the link in your message if the customer needs it."
        )
    return text, [context(text, *notes)]


def held_reply_blocks(row: Message, *, scheduled: bool) -> tuple[str, list[Block]]:
    """The thread notice while a reply waits: its undo window, or the time chosen for it."""
    who = f"<@{row.author_id}>" if row.author_id else "This"
    when = slack_time(row.send_after) if row.send_after else "in a moment"
    to = escape(row.to_addresses) or "the customer"
    if scheduled:
        text = f":clock3: {who}'s reply to {to} is scheduled for {when}."
    else:
        text = f":hourglass_flowing_sand: {who}'s reply to {to} leaves {when}."
    value = str(row.id)
    return truncate(text, 2900), [
        section(truncate(text, 2900)),
        actions(
            button("Undo", "reply_undo", value, style="danger"),
            button("Send later…", "reply_send_later", value),
            block_id="held_reply",
        ),
        context("Only the author can undo or reschedule it."),
    ]


def held_reply_done_blocks(row: Message, outcome: str) -> tuple[str, list[Block]]:
    """The same notice once the reply left or was undone (no buttons any more)."""
    who = f"<@{row.author_id}>" if row.author_id else "This"
    if outcome == "cancelled":
        text = f":leftwards_arrow_with_hook: {who} undid this reply: nothing was sent."
    else:
        text = f":outbox_tray: {who}'s reply has left."
    return text, [context(text)]


def send_later_modal(message_row_id: int, tz_name: str) -> dict[str, Any]:
    """Pick a day and a time (in the person's own Slack time zone) for a held reply."""
    return when_modal(
        "reply_send_later", "Send later", str(message_row_id), tz_name, submit="Schedule"
    )
