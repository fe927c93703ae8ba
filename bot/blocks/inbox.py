"""Team inbox pieces: the status and assignee shown on a thread's root post, its buttons,
the Assign and Snooze modals, and the notes posted in the thread when they change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    input_block,
    modal,
    option,
    slack_date,
)
from locales import N_, _, ngettext
from storage.models import ThreadStatus

# Blocks of the root post that belong to the team inbox: replaced as a whole on each change.
TRIAGE_PREFIX = "triage_"
STATUS_LABELS = {
    ThreadStatus.OPEN: N_(":large_orange_circle: *Open* — the customer is waiting for an answer"),
    ThreadStatus.WAITING: N_(":large_blue_circle: *Waiting* — answered; waiting for the customer"),
    ThreadStatus.DONE: N_(":white_check_mark: *Done*"),
    ThreadStatus.SNOOZED: N_(":zzz: *Snoozed*"),
}


def triage_blocks(
    status: str, assignee_id: str | None, snoozed_until: datetime | None = None
) -> list[Block]:
    if status == ThreadStatus.SNOOZED and snoozed_until is not None:
        label = _(":zzz: *Snoozed* until {time}").format(time=slack_date(snoozed_until))
    else:
        known = STATUS_LABELS.get(ThreadStatus(status))
        label = _(known) if known else status
    who = (
        _("Assigned to {user}").format(user=f"<@{assignee_id}>") if assignee_id else _("Unassigned")
    )
    buttons = [
        button(_("Assign to me"), "triage_assign_me"),
        button(_("Assign…"), "triage_assign"),
    ]
    if status in (ThreadStatus.DONE, ThreadStatus.SNOOZED):
        buttons.append(button(_("Reopen"), "triage_reopen"))
    else:
        buttons.append(button(_("Done"), "triage_done", style="primary"))
    buttons.append(button(_("Snooze until…"), "triage_snooze"))
    buttons.append(button(_("Reply with template"), "template_reply_open"))
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
        _("Assign"),
        [input_block("assignee", _("Who handles this customer?"), element)],
        callback_id="triage_assign",
        submit=_("Assign"),
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
                "day", _("Day"), {"type": "datepicker", "action_id": "value", "initial_date": today}
            ),
            input_block(
                "time",
                _("Time"),
                {"type": "timepicker", "action_id": "value", "initial_time": "09:00"},
                hint=_("In your time zone ({tz}).").format(tz=tz_name),
            ),
        ],
        callback_id=callback_id,
        submit=submit,
        private_metadata=reference,
    )


def assigned_note(actor: str, assignee: str) -> str:
    if actor == assignee:
        return ":raising_hand: " + _("{actor} took this conversation.").format(actor=f"<@{actor}>")
    return ":point_right: " + _("{actor} assigned this conversation to {assignee}.").format(
        actor=f"<@{actor}>", assignee=f"<@{assignee}>"
    )


def status_note(actor: str | None, status: str, snoozed_until: datetime | None = None) -> str:
    who = f"<@{actor}>" if actor else "Mailroom"
    if status == ThreadStatus.DONE:
        return ":white_check_mark: " + _("{who} marked this conversation done.").format(who=who)
    if status == ThreadStatus.SNOOZED and snoozed_until is not None:
        return ":zzz: " + _("{who} snoozed this conversation until {time}.").format(
            who=who, time=slack_date(snoozed_until)
        )
    if status == ThreadStatus.OPEN:
        return ":large_orange_circle: " + _("{who} reopened this conversation.").format(who=who)
    return _("{who} set this conversation to {status}.").format(who=who, status=status)


def new_mail_mention(assignee: str) -> str:
    return ":incoming_envelope: " + _(
        "{assignee}, the customer wrote again in your conversation."
    ).format(assignee=f"<@{assignee}>")


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
        text = ":tada: " + _(
            "Nothing is waiting: no open conversation is assigned to you or unassigned."
        )
        return text, [section(text)]
    text = ":inbox_tray: " + _(
        "{mine} assigned to you, {unassigned} unassigned — oldest first."
    ).format(mine=mine, unassigned=unassigned)
    lines = []
    for item in items[:20]:
        subject = escape(item.conversation.subject or _("(no subject)"))
        who = escape(item.conversation.customer_address or _("unknown"))
        title = f"<{item.link}|{subject}>" if item.link else subject
        owner = _("you") if item.conversation.assignee_id else _("unassigned")
        since = _("waiting since {time}").format(time=slack_date(item.since))
        lines.append(
            truncate(
                f"• {title} — {who} · {escape(item.mailbox.address)} · {owner} · {since}",
                500,
            )
        )
    blocks: list[Block] = [section(text)]
    for start in range(0, len(lines), 5):
        blocks.append(section("\n".join(lines[start : start + 5])))
    if len(items) > 20:
        blocks.append(context(_("…and {n} more.").format(n=len(items) - 20)))
    return text, blocks


def home_counts_blocks(mine: int, unassigned: int) -> list[Block]:
    from bot.blocks.common import section

    return [
        section(
            ":inbox_tray: "
            + _(
                "*Waiting for an answer:* {mine} assigned to you, "
                "{unassigned} unassigned. Type `/mail-inbox` for the list."
            ).format(mine=mine, unassigned=unassigned)
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
    if cc:
        wrote = _("{author} wrote from {mailbox} to {recipients} (Cc {copies})").format(
            author=f"<@{author}>",
            mailbox=escape(mailbox_address),
            recipients=recipients,
            copies=", ".join(escape(a) for a in cc),
        )
    else:
        wrote = _("{author} wrote from {mailbox} to {recipients}").format(
            author=f"<@{author}>", mailbox=escape(mailbox_address), recipients=recipients
        )
    headline = f":outbox_tray: {wrote}\n*{escape(subject)}*"
    text = truncate(
        _("New email to {recipients}: {subject}").format(
            recipients=recipients, subject=escape(subject)
        ),
        300,
    )
    return text, [
        section(truncate(headline, 2900)),
        section(truncate(escape(body), 2800)),
        *(
            [context(truncate(":paperclip: " + ", ".join(escape(f) for f in files), 2900))]
            if files
            else []
        ),
        context(_("The customer's answer will arrive in this thread; reply here to answer.")),
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
            "placeholder": plain(_("Type a name or an address")),
        }
        return input_block(block_id, label, element, optional=optional)

    return modal(
        _("New email"),
        [
            select_input(
                "from", _("From"), mailboxes, initial=mailboxes[0][1] if mailboxes else None
            ),
            recipients("to", _("To"), optional=False),
            recipients("cc", _("Cc"), optional=True),
            text_input("subject", _("Subject")),
            text_input(
                "body",
                _("Message"),
                multiline=True,
                hint=_(
                    "Slack formatting (*bold*, _italic_, links) becomes formatted email; "
                    "your footer is added."
                ),
            ),
            input_block(
                "files",
                _("Files"),
                {"type": "file_input", "action_id": "files", "max_files": max_files},
                optional=True,
                hint=_("Attached to the email."),
            ),
        ],
        callback_id="mail_compose",
        submit=_("Send"),
    )


def template_reply_post(user_id: str, text: str) -> tuple[str, list[Block]]:
    """How a template reply shows in the thread: who sends it, and the exact text."""
    from bot.blocks.common import section
    from bot.formatting.slack_text import escape, truncate

    headline = ":memo: " + _("{user} replied with a saved reply:").format(user=f"<@{user_id}>")
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
        _("Reply with template"),
        [
            actions(picker, block_id="template_choice"),
            # A new block id per template: Slack keeps typed text in a block it already knows.
            text_input(f"body_{chosen}", _("Reply"), initial=text, multiline=True),
            context(_("Sent to the customer like a reply in the thread (with the undo window).")),
        ],
        callback_id="template_reply",
        submit=_("Send"),
        private_metadata=json.dumps({"conversation": conversation_id, "template": chosen}),
    )


def template_edit_modal(
    reference: str, name: str, body: str, address: str | None, tags_hint: str
) -> dict[str, Any]:
    """``address``: the mailbox the saved reply is for; None for the whole workspace."""
    from bot.blocks.common import text_input
    from bot.formatting.slack_text import escape

    scope = (
        _("For {address}.").format(address=escape(address))
        if address
        else _("For the whole workspace.")
    )
    return modal(
        _("Saved reply"),
        [
            context(scope),
            text_input("name", _("Name"), initial=name),
            text_input("body", _("Text"), initial=body, multiline=True, hint=tags_hint[:150]),
        ],
        callback_id="template_save",
        private_metadata=reference,
    )


def template_list_blocks(rows: list[Any], scopes: dict[int | None, str]) -> tuple[str, list[Block]]:
    from bot.blocks.common import section
    from bot.formatting.slack_text import escape, truncate

    if not rows:
        text = _(
            "No saved replies yet. Add one with `/mail-template add` (workspace) or "
            "`/mail-template add mailbox:<address>`."
        )
        return text, [section(text)]
    lines = [
        truncate(
            f"• *{escape(r.name)}* ({escape(scopes.get(r.mailbox_id) or _('workspace'))}): "
            f"{escape((r.body or '').splitlines()[0] if r.body else '')}",
            300,
        )
        for r in rows[:40]
    ]
    text = ":memo: " + ngettext("{n} saved reply.", "{n} saved replies.", len(rows)).format(
        n=len(rows)
    )
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
