"""Team inbox pieces: the status and assignee shown on a thread's root post, its buttons,
the Assign and Snooze modals, and the notes posted in the thread when they change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    buttons.append(button("Reply with template", "template_reply_open"))
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
    try:
        today = datetime.now(ZoneInfo(tz_name)).date().isoformat()
    except (ZoneInfoNotFoundError, ValueError):
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
    files: list[str] | None = None,
) -> tuple[str, list[Block]]:
    """The root post of a conversation started from Slack (the person's own text, escaped
    like any address so nothing in it pings a channel; the names of its attached files)."""
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
        *(
            [context(truncate(":paperclip: " + ", ".join(escape(f) for f in files), 2900))]
            if files
            else []
        ),
        context("The customer's answer will arrive in this thread; reply here to answer."),
        *triage_blocks(ThreadStatus.WAITING, assignee),
    ]


# The action id of the To/Cc selects; Slack asks handlers.options for their suggestions.
CONTACTS_ACTION = "mail_contacts"


def compose_modal(mailboxes: list[tuple[str, str]], max_files: int = 10) -> dict[str, Any]:
    """/mail-send: From (only mailboxes the person may send from), To and Cc (contacts of
    those mailboxes suggested as one types, or any address), subject, body, files."""
    from bot.blocks.common import input_block, plain, select_input, text_input

    def recipients(block_id: str, label: str, optional: bool) -> Block:
        element = {
            "type": "multi_external_select",
            "action_id": CONTACTS_ACTION,
            "min_query_length": 1,
            "placeholder": plain("Type a name or an address"),
        }
        return input_block(block_id, label, element, optional=optional)

    return modal(
        "New email",
        [
            select_input("from", "From", mailboxes, initial=mailboxes[0][1] if mailboxes else None),
            recipients("to", "To", optional=False),
            recipients("cc", "Cc", optional=True),
            text_input("subject", "Subject"),
            text_input(
                "body",
                "Message",
                multiline=True,
                hint="Slack formatting (*bold*, _italic_, links) becomes formatted email; "
                "your footer is added.",
            ),
            input_block(
                "files",
                "Files",
                {"type": "file_input", "action_id": "files", "max_files": max_files},
                optional=True,
                hint="Attached to the email.",
            ),
        ],
        callback_id="mail_compose",
        submit="Send",
    )


def template_reply_post(user_id: str, text: str) -> tuple[str, list[Block]]:
    """How a template reply shows in the thread: who sends it, and the exact text."""
    from bot.blocks.common import section
    from bot.formatting.slack_text import escape, truncate

    headline = f":memo: <@{user_id}> replied with a saved reply:"
    return truncate(f"{headline} {escape(text)}", 2900), [
        context(headline),
        section(truncate(escape(text), 2900)),
    ]


def template_reply_modal(
    conversation_id: int,
    templates: list[tuple[str, str]],
    chosen: str,
    text: str,
) -> dict[str, Any]:
    """Pick a saved reply (the text below refills), edit it, send it in the thread."""
    import json

    from bot.blocks.common import text_input

    picker: dict[str, Any] = {
        "type": "static_select",
        "action_id": "template_pick",
        "options": [option(name, value) for name, value in templates[:100]],
    }
    for name, value in templates:
        if value == chosen:
            picker["initial_option"] = option(name, value)
    return modal(
        "Reply with template",
        [
            actions(picker, block_id="template_choice"),
            # A new block id per template: Slack keeps typed text in a block it already knows.
            text_input(f"body_{chosen}", "Reply", initial=text, multiline=True),
            context("Sent to the customer like a reply in the thread (with the undo window)."),
        ],
        callback_id="template_reply",
        submit="Send",
        private_metadata=json.dumps({"conversation": conversation_id, "template": chosen}),
    )


def template_edit_modal(
    reference: str, name: str, body: str, scope: str, tags_hint: str
) -> dict[str, Any]:
    from bot.blocks.common import text_input

    return modal(
        "Saved reply",
        [
            context(f"For {scope}."),
            text_input("name", "Name", initial=name),
            text_input("body", "Text", initial=body, multiline=True, hint=tags_hint[:150]),
        ],
        callback_id="template_save",
        private_metadata=reference,
    )


def template_list_blocks(rows: list[Any], scopes: dict[int | None, str]) -> tuple[str, list[Block]]:
    from bot.blocks.common import section
    from bot.formatting.slack_text import escape, truncate

    if not rows:
        text = (
            "No saved replies yet. Add one with `/mail-template add` (workspace) or "
            "`/mail-template add mailbox:<address>`."
        )
        return text, [section(text)]
    lines = [
        truncate(
            f"• *{escape(r.name)}* ({escape(scopes.get(r.mailbox_id, 'workspace'))}): "
            f"{escape((r.body or '').splitlines()[0] if r.body else '')}",
            300,
        )
        for r in rows[:40]
    ]
    text = f":memo: {len(rows)} saved replies."
    blocks: list[Block] = [section(text)]
    for start in range(0, len(lines), 10):
        blocks.append(section("\n".join(lines[start : start + 10])))
    blocks.append(
        context(
            "`/mail-template edit <name> [mailbox:<address>]`, "
            "`/mail-template remove <name> [mailbox:<address>]`"
        )
    )
    return text, blocks
