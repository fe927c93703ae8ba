"""Messages of /mail-contacts (the contact list of a mailbox) and /mail-contact (activity)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.blocks.common import Block, context, section
from bot.blocks.status import when
from bot.formatting.plural import plural
from bot.formatting.slack_text import escape

if TYPE_CHECKING:
    from bot.preferences.contacts import ActivityItem, ContactChanges
    from storage.models import Contact, Mailbox

MAX_LISTED = 200


def contacts_list(mailbox: Mailbox, contacts: list[Contact]) -> tuple[str, list[Block]]:
    mode = (
        "partial: only mail with these contacts is posted"
        if mailbox.sync_mode == "partial"
        else "full: every email is posted"
    )
    head = f"*Contacts of {escape(mailbox.address)}* ({len(contacts)}) · sync mode {mode}"
    if not contacts:
        text = (
            f"{mailbox.address} has no contacts yet. Add some with "
            "`/mail-contacts add ana@customer.com @customer.com`."
        )
        return text, [section(head), section(escape(text))]
    shown = [escape(c.pattern) for c in contacts[:MAX_LISTED]]
    blocks = [section(head), section("\n".join(f"• {p}" for p in shown))]
    if len(contacts) > MAX_LISTED:
        blocks.append(context(f"…and {len(contacts) - MAX_LISTED} more."))
    return f"{plural(len(contacts), 'contact', 'contacts')} for {escape(mailbox.address)}", blocks


def contacts_changed_text(
    verb: str, mailbox: Mailbox, changes: ContactChanges, skipped_rows: int = 0
) -> str:
    count = plural(len(changes.done), "contact", "contacts")
    parts = [f"{verb} {count} for {escape(mailbox.address)}"]
    if changes.done:
        parts[0] += ": " + ", ".join(escape(p) for p in changes.done[:20])
        if len(changes.done) > 20:
            parts[0] += ", …"
    parts[0] += "."
    if changes.unchanged:
        already = "already there" if verb == "Added" else "not in the list"
        parts.append(f"{len(changes.unchanged)} {already}.")
    if changes.invalid:
        parts.append(
            "Not an address or @domain, skipped: "
            + ", ".join(f"`{escape(v)}`" for v in changes.invalid[:10])
            + "."
        )
    if skipped_rows:
        parts.append(f"{plural(skipped_rows, 'row', 'rows')} had no address.")
    return " ".join(parts)


def activity_message(pattern: str, items: list[ActivityItem]) -> tuple[str, list[Block]]:
    if not items:
        text = (
            f"No activity with {pattern} yet in the mailboxes you can see. Mail exchanged "
            "with them is recorded as it is synced or sent."
        )
        return text, [section(escape(text))]
    lines = []
    for item in items:
        a = item.activity
        arrow = ":inbox_tray: in" if a.direction == "in" else ":outbox_tray: out"
        who = ""
        if a.direction == "out":
            who = (
                f" · answered by <@{a.answered_by}>"
                if a.answered_by
                else " · sent from the mailbox"
            )
        subject = escape(a.subject or "(no subject)")
        subject = f"<{item.link}|{subject}>" if item.link else subject
        lines.append(
            f"{arrow} · {when(a.occurred_at)} · {subject} · {escape(a.contact_address)} "
            f"via {escape(item.mailbox_address)}{who}"
        )
    blocks = [
        section(f"*Recent activity with {escape(pattern)}* ({len(items)})"),
        section("\n".join(lines)),
    ]
    return f"Recent activity with {escape(pattern)}", blocks
