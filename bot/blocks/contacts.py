"""Messages of /mail-contacts (the contact list of a mailbox) and /mail-contact (activity)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.blocks.common import Block, context, section
from bot.blocks.status import when
from bot.formatting.slack_text import escape
from locales import _, ngettext

if TYPE_CHECKING:
    from bot.preferences.contacts import ActivityItem, ContactChanges
    from storage.models import Contact, Mailbox

MAX_LISTED = 200


def contacts_list(mailbox: Mailbox, contacts: list[Contact]) -> tuple[str, list[Block]]:
    address = escape(mailbox.address)
    if mailbox.sync_mode == "partial":
        head = _(
            "*Contacts of {address}* ({count}) · sync mode partial: only mail with these "
            "contacts is posted"
        ).format(address=address, count=len(contacts))
    else:
        head = _(
            "*Contacts of {address}* ({count}) · sync mode full: every email is posted"
        ).format(address=address, count=len(contacts))
    if not contacts:
        text = _(
            "{address} has no contacts yet. Add some with "
            "`/mail-contacts add ana@customer.com @customer.com`."
        ).format(address=mailbox.address)
        return text, [section(head), section(escape(text))]
    shown = [escape(c.pattern) for c in contacts[:MAX_LISTED]]
    blocks = [section(head), section("\n".join(f"• {p}" for p in shown))]
    if len(contacts) > MAX_LISTED:
        blocks.append(context(_("…and {n} more.").format(n=len(contacts) - MAX_LISTED)))
    n = len(contacts)
    return ngettext("{n} contact for {address}", "{n} contacts for {address}", n).format(
        n=n, address=address
    ), blocks


def _changed_sentence(verb: str, n: int, address: str, listed: str) -> str:
    """The first sentence, one complete message per verb, with or without the list."""
    if verb == "Added":
        if listed:
            return ngettext(
                "Added {n} contact for {address}: {contacts}.",
                "Added {n} contacts for {address}: {contacts}.",
                n,
            ).format(n=n, address=address, contacts=listed)
        return ngettext(
            "Added {n} contact for {address}.", "Added {n} contacts for {address}.", n
        ).format(n=n, address=address)
    if listed:
        return ngettext(
            "Removed {n} contact for {address}: {contacts}.",
            "Removed {n} contacts for {address}: {contacts}.",
            n,
        ).format(n=n, address=address, contacts=listed)
    return ngettext(
        "Removed {n} contact for {address}.", "Removed {n} contacts for {address}.", n
    ).format(n=n, address=address)


def contacts_changed_text(
    verb: str, mailbox: Mailbox, changes: ContactChanges, skipped_rows: int = 0
) -> str:
    """``verb`` is "Added" or "Removed" (compared, not shown as such)."""
    listed = ""
    if changes.done:
        listed = ", ".join(escape(p) for p in changes.done[:20])
        if len(changes.done) > 20:
            listed += ", …"
    parts = [_changed_sentence(verb, len(changes.done), escape(mailbox.address), listed)]
    if changes.unchanged:
        n = len(changes.unchanged)
        if verb == "Added":
            parts.append(ngettext("{n} already there.", "{n} already there.", n).format(n=n))
        else:
            parts.append(ngettext("{n} not in the list.", "{n} not in the list.", n).format(n=n))
    if changes.invalid:
        parts.append(
            _("Not an address or @domain, skipped: {values}.").format(
                values=", ".join(f"`{escape(v)}`" for v in changes.invalid[:10])
            )
        )
    if skipped_rows:
        parts.append(
            ngettext("{n} row had no address.", "{n} rows had no address.", skipped_rows).format(
                n=skipped_rows
            )
        )
    return " ".join(parts)


def activity_message(pattern: str, items: list[ActivityItem]) -> tuple[str, list[Block]]:
    if not items:
        text = _(
            "No activity with {pattern} yet in the mailboxes you can see. Mail exchanged "
            "with them is recorded as it is synced or sent."
        ).format(pattern=pattern)
        return text, [section(escape(text))]
    lines = []
    for item in items:
        a = item.activity
        arrow = ":inbox_tray: " + _("in") if a.direction == "in" else ":outbox_tray: " + _("out")
        who = ""
        if a.direction == "out":
            who = " · " + (
                _("answered by {user}").format(user=f"<@{a.answered_by}>")
                if a.answered_by
                else _("sent from the mailbox")
            )
        subject = escape(a.subject or _("(no subject)"))
        subject = f"<{item.link}|{subject}>" if item.link else subject
        via = _("{contact} via {mailbox}").format(
            contact=escape(a.contact_address), mailbox=escape(item.mailbox_address)
        )
        lines.append(f"{arrow} · {when(a.occurred_at)} · {subject} · {via}{who}")
    blocks = [
        section(
            _("*Recent activity with {pattern}* ({count})").format(
                pattern=escape(pattern), count=len(items)
            )
        ),
        section("\n".join(lines)),
    ]
    return _("Recent activity with {pattern}").format(pattern=escape(pattern)), blocks
