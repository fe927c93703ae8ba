"""Messages about replies that Mailroom sends on someone's behalf."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import Block, actions, button, context, section, slack_date
from bot.blocks.email import recipients_text
from bot.blocks.inbox import when_modal
from bot.formatting.slack_text import escape, truncate
from locales import _
from storage.models import Message


def send_failed_blocks(row: Message, reason: str) -> tuple[str, list[Block]]:
    # The notification text is parsed by Slack like the blocks: the address and the
    # server's answer are remote text, so they are escaped here too.
    to, why = escape(row.to_addresses), escape(reason)
    if row.author_id:
        who = f"<@{row.author_id}>"
        text = _(
            "{who}, your reply to {to} was not sent. {reason} "
            "Fix that and press Try again, or post the reply again."
        ).format(who=who, to=to, reason=why)
        shown = _("{who}, your reply to {to} was *not sent*.\n{reason}").format(
            who=who, to=to, reason=why
        )
    else:
        text = _(
            "Your reply to {to} was not sent. {reason} "
            "Fix that and press Try again, or post the reply again."
        ).format(to=to, reason=why)
        shown = _("Your reply to {to} was *not sent*.\n{reason}").format(to=to, reason=why)
    return ":x: " + text, [
        section(":x: " + shown),
        actions(button(_("Try again"), "reply_retry", str(row.id), style="primary")),
    ]


def sent_confirmation_blocks(recipients: list[str], left_out: list[str]) -> tuple[str, list[Block]]:
    """The thread note once a reply is sent: the real recipients, and any files left out."""
    text = truncate(
        ":white_check_mark: "
        + _("Reply sent to {recipients}.").format(recipients=recipients_text(recipients)),
        2900,
    )
    notes = []
    if left_out:
        names = truncate(", ".join(escape(n) for n in left_out), 1500)
        notes.append(
            ":paperclip: "
            + _(
                "Not attached: {names}. Those are links to files kept outside "
                "Slack; put the link in your message if the customer needs it."
            ).format(names=names)
        )
    return text, [context(text, *notes)]


def held_reply_blocks(row: Message, *, scheduled: bool) -> tuple[str, list[Block]]:
    """The thread notice while a reply waits: its undo window, or the time chosen for it."""
    to = escape(row.to_addresses) or _("the customer")
    who = f"<@{row.author_id}>" if row.author_id else ""
    when = slack_date(row.send_after) if row.send_after else ""
    if scheduled and when:
        if who:
            text = _("{who}'s reply to {to} is scheduled for {when}.")
        else:
            text = _("The reply to {to} is scheduled for {when}.")
        text = ":clock3: " + text.format(who=who, to=to, when=when)
    else:
        if when and who:
            text = _("{who}'s reply to {to} leaves {when}.")
        elif when:
            text = _("The reply to {to} leaves {when}.")
        elif who:
            text = _("{who}'s reply to {to} leaves in a moment.")
        else:
            text = _("The reply to {to} leaves in a moment.")
        text = ":hourglass_flowing_sand: " + text.format(who=who, to=to, when=when)
    value = str(row.id)
    return truncate(text, 2900), [
        section(truncate(text, 2900)),
        actions(
            button(_("Undo"), "reply_undo", value, style="danger"),
            button(_("Send later…"), "reply_send_later", value),
            block_id="held_reply",
        ),
        context(_("Only the author can undo or reschedule it.")),
    ]


def held_reply_done_blocks(row: Message, outcome: str) -> tuple[str, list[Block]]:
    """The same notice once the reply left or was undone (no buttons any more)."""
    who = f"<@{row.author_id}>" if row.author_id else ""
    if outcome == "cancelled":
        undone = (
            _("{who} undid this reply: nothing was sent.")
            if who
            else _("This reply was undone: nothing was sent.")
        )
        text = ":leftwards_arrow_with_hook: " + undone.format(who=who)
    else:
        left = _("{who}'s reply has left.") if who else _("The reply has left.")
        text = ":outbox_tray: " + left.format(who=who)
    return text, [context(text)]


def send_later_modal(message_row_id: int, tz_name: str) -> dict[str, Any]:
    """Pick a day and a time (in the person's own Slack time zone) for a held reply."""
    return when_modal(
        "reply_send_later", _("Send later"), str(message_row_id), tz_name, submit=_("Schedule")
    )
