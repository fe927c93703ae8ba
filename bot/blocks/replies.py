"""Messages about replies that Mailroom sends on someone's behalf."""

from __future__ import annotations

from bot.blocks.common import Block, actions, button, context, section
from bot.blocks.email import recipients_text
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
