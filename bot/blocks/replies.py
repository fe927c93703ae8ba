"""Messages about replies that Mailroom sends on someone's behalf."""

from __future__ import annotations

from bot.blocks.common import Block, actions, button, section
from bot.formatting.slack_text import escape
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
