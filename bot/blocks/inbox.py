"""Team inbox pieces: the status and assignee shown on a thread's root post, its buttons,
the Assign and Snooze modals, and the notes posted in the thread when they change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.blocks.common import Block, actions, button, context, input_block, modal, option
from storage.models import ThreadStatus

# Blocks of the root post that belong to the team inbox: replaced as a whole on each change.
TRIAGE_PREFIX = "triage_"
STATUS_LABELS = {
    ThreadStatus.OPEN: ":large_orange_circle: *Open* — the customer is waiting for an answer",
    ThreadStatus.WAITING: ":large_blue_circle: *Waiting* — answered; waiting for the customer",
    ThreadStatus.DONE: ":white_check_mark: *Done*",
    ThreadStatus.SNOOZED: ":zzz: *Snoozed*",
}


def slack_time(when: datetime) -> str:
    """A time each reader sees in their own time zone."""
    stamp = int(when.replace(tzinfo=when.tzinfo or UTC).timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{when:%Y-%m-%d %H:%M} UTC>"


def triage_blocks(
    status: str, assignee_id: str | None, snoozed_until: datetime | None = None
) -> list[Block]:
    label = STATUS_LABELS.get(ThreadStatus(status), status)
    if status == ThreadStatus.SNOOZED and snoozed_until is not None:
        label += f" until {slack_time(snoozed_until)}"
    who = f"Assigned to <@{assignee_id}>" if assignee_id else "Unassigned"
    buttons = [button("Assign to me", "triage_assign_me"), button("Assign…", "triage_assign")]
    if status in (ThreadStatus.DONE, ThreadStatus.SNOOZED):
        buttons.append(button("Reopen", "triage_reopen"))
    else:
        buttons.append(button("Done", "triage_done", style="primary"))
    buttons.append(button("Snooze until…", "triage_snooze"))
    return [
        {**context(f"{label} · {who}"), "block_id": f"{TRIAGE_PREFIX}state"},
        actions(*buttons, block_id=f"{TRIAGE_PREFIX}actions"),
    ]


def without_triage(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if not str(b.get("block_id", "")).startswith(TRIAGE_PREFIX)]


def assign_modal(conversation_id: int, people: list[tuple[str, str]]) -> dict[str, Any]:
    """Pick who handles the thread, among the people who may answer from its mailbox."""
    element = {
        "type": "static_select",
        "action_id": "value",
        "options": [option(name, user_id) for user_id, name in people[:100]],
    }
    return modal(
        "Assign",
        [input_block("assignee", "Who handles this customer?", element)],
        callback_id="triage_assign",
        submit="Assign",
        private_metadata=str(conversation_id),
    )


def when_modal(
    callback_id: str, title: str, reference: str, tz_name: str, *, submit: str
) -> dict[str, Any]:
    """A day and a time in the person's own Slack time zone (Snooze, Send later)."""
    today = datetime.now(UTC).date().isoformat()
    return modal(
        title,
        [
            input_block(
                "day", "Day", {"type": "datepicker", "action_id": "value", "initial_date": today}
            ),
            input_block(
                "time",
                "Time",
                {"type": "timepicker", "action_id": "value", "initial_time": "09:00"},
                hint=f"In your time zone ({tz_name}).",
            ),
        ],
        callback_id=callback_id,
        submit=submit,
        private_metadata=reference,
    )


def assigned_note(actor: str, assignee: str) -> str:
    if actor == assignee:
        return f":raising_hand: <@{actor}> took this conversation."
    return f":point_right: <@{actor}> assigned this conversation to <@{assignee}>."


def status_note(actor: str | None, status: str, snoozed_until: datetime | None = None) -> str:
    who = f"<@{actor}>" if actor else "Mailroom"
    if status == ThreadStatus.DONE:
        return f":white_check_mark: {who} marked this conversation done."
    if status == ThreadStatus.SNOOZED and snoozed_until is not None:
        return f":zzz: {who} snoozed this conversation until {slack_time(snoozed_until)}."
    if status == ThreadStatus.OPEN:
        return f":large_orange_circle: {who} reopened this conversation."
    return f"{who} set this conversation to {status}."


def new_mail_mention(assignee: str) -> str:
    return f":incoming_envelope: <@{assignee}>, the customer wrote again in your conversation."


def waiting_list_blocks(items: list[Any], user_id: str) -> tuple[str, list[Block]]:
    """/mail-inbox: the open threads for ``user_id``, the longest waiting first.

    ``items`` are ``bot.inbox.waiting.WaitingThread``; subjects and addresses are email
    text, escaped here.
    """
    from bot.blocks.common import section
    from bot.formatting.slack_text import escape, truncate

    mine = sum(1 for i in items if i.conversation.assignee_id == user_id)
    unassigned = len(items) - mine
    if not items:
        text = ":tada: Nothing is waiting: no open conversation is assigned to you or unassigned."
        return text, [section(text)]
    text = f":inbox_tray: {mine} assigned to you, {unassigned} unassigned — oldest first."
    lines = []
    for item in items[:20]:
        subject = escape(item.conversation.subject or "(no subject)")
        who = escape(item.conversation.customer_address or "unknown")
        title = f"<{item.link}|{subject}>" if item.link else subject
        owner = "you" if item.conversation.assignee_id else "unassigned"
        lines.append(
            truncate(
                f"• {title} — {who} · {escape(item.mailbox.address)} · {owner} · "
                f"waiting since {slack_time(item.since)}",
                500,
            )
        )
    blocks: list[Block] = [section(text)]
    for start in range(0, len(lines), 5):
        blocks.append(section("\n".join(lines[start : start + 5])))
    if len(items) > 20:
        blocks.append(context(f"…and {len(items) - 20} more."))
    return text, blocks


def home_counts_blocks(mine: int, unassigned: int) -> list[Block]:
    from bot.blocks.common import section

    return [
        section(
            f":inbox_tray: *Waiting for an answer:* {mine} assigned to you, "
            f"{unassigned} unassigned. Type `/mail-inbox` for the list."
        ),
        {"type": "divider"},
    ]


def composed_root_blocks(
    author: str,
    mailbox_address: str,
    to: list[str],
    cc: list[str],
    subject: str,
    body: str,
    assignee: str,
) -> tuple[str, list[Block]]:
    """The root post of a conversation started from Slack (the person's own text, escaped
    like any address so nothing in it pings a channel)."""
    from bot.blocks.common import section
    from bot.formatting.slack_text import escape, truncate

    recipients = ", ".join(escape(a) for a in to)
    copies = f" (Cc {', '.join(escape(a) for a in cc)})" if cc else ""
    headline = (
        f":outbox_tray: <@{author}> wrote from {escape(mailbox_address)} to "
        f"{recipients}{copies}\n*{escape(subject)}*"
    )
    text = truncate(f"New email to {recipients}: {escape(subject)}", 300)
    return text, [
        section(truncate(headline, 2900)),
        section(truncate(escape(body), 2800)),
        context("The customer's answer will arrive in this thread; reply here to answer."),
        *triage_blocks(ThreadStatus.WAITING, assignee),
    ]


def compose_modal(mailboxes: list[tuple[str, str]]) -> dict[str, Any]:
    """/mail-send: From (only mailboxes the person may send from), To, Cc, subject, body."""
    from bot.blocks.common import select_input, text_input

    return modal(
        "New email",
        [
            select_input("from", "From", mailboxes, initial=mailboxes[0][1] if mailboxes else None),
            text_input("to", "To", placeholder="ana@customer.com, bob@customer.com"),
            text_input("cc", "Cc", optional=True),
            text_input("subject", "Subject"),
            text_input(
                "body",
                "Message",
                multiline=True,
                hint="Slack formatting (*bold*, _italic_, links) becomes formatted email; "
                "your footer is added.",
            ),
        ],
        callback_id="mail_compose",
        submit="Send",
    )
