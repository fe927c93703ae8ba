"""Contacts, partial sync and contact activity.

A mailbox in *partial* mode posts only mail exchanged with its known contacts (addresses, or
whole domains written ``@domain``). Mail from anyone else is still recorded (state SKIPPED) so
the sync cursor moves past it and switching mode later never reposts it. Every mail that is
brought in, in either mode, is recorded as activity of the contacts it was exchanged with,
and so is every reply sent from Slack; ``/mail-contact`` lists that activity.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot.formatting.inbound import InboundEmail
from bot.replies import SentHook
from bot.sync import IngestHook, PostFilter
from bot.threads import find_conversation
from locales import _
from providers.errors import UserError
from storage.models import Activity, Contact, Conversation, Mailbox, Message, saved_id, utcnow

if TYPE_CHECKING:
    from bot.core import Core

MAX_CSV_BYTES = 1024 * 1024
_ADDRESS_RE = re.compile(r"[^@\s<>,;\"']+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DOMAIN_RE = re.compile(r"@?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})")


def normalise_pattern(value: str) -> str | None:
    """``Ana@X.com`` → ``ana@x.com``; ``@x.com`` / ``x.com`` → ``@x.com``; None when neither."""
    value = value.strip().strip("<>").lower()
    if value.startswith("mailto:"):
        value = value[len("mailto:") :]
    if _ADDRESS_RE.fullmatch(value) and not value.startswith("@"):
        return value
    match = _DOMAIN_RE.fullmatch(value)
    if match:
        return "@" + match.group(1)
    return None


def matches(patterns: set[str], address: str) -> bool:
    address = address.strip().lower()
    if not address or "@" not in address:
        return False
    domain = "@" + address.rpartition("@")[2]
    # A domain pattern covers its subdomains too (@acme.com matches ana@eu.acme.com).
    return address in patterns or any(
        domain == p or domain.endswith("." + p[1:]) for p in patterns if p.startswith("@")
    )


# --- Contacts ---------------------------------------------------------------------------------


def patterns_of(ctx: Core, mailbox_id: int) -> set[str]:
    with ctx.db.session() as session:
        return {
            c.pattern for c in session.exec(select(Contact).where(Contact.mailbox_id == mailbox_id))
        }


def list_contacts(ctx: Core, mailbox_id: int) -> list[Contact]:
    with ctx.db.session() as session:
        return list(
            session.exec(
                select(Contact)
                .where(Contact.mailbox_id == mailbox_id)
                .order_by(col(Contact.pattern))
            )
        )


@dataclass
class ContactChanges:
    done: list[str]
    unchanged: list[str]
    invalid: list[str]


def add_contacts(ctx: Core, mailbox_id: int, values: list[str], user_id: str) -> ContactChanges:
    changes = ContactChanges([], [], [])
    existing = patterns_of(ctx, mailbox_id)
    for value in values:
        pattern = normalise_pattern(value)
        if pattern is None:
            changes.invalid.append(value)
        elif pattern in existing:
            changes.unchanged.append(pattern)
        else:
            existing.add(pattern)
            changes.done.append(pattern)
    if changes.done:
        with ctx.db.session() as session:
            for pattern in changes.done:
                session.add(Contact(mailbox_id=mailbox_id, pattern=pattern, added_by=user_id))
    return changes


def remove_contacts(ctx: Core, mailbox_id: int, values: list[str]) -> ContactChanges:
    changes = ContactChanges([], [], [])
    with ctx.db.session() as session:
        for value in values:
            pattern = normalise_pattern(value)
            if pattern is None:
                changes.invalid.append(value)
                continue
            row = session.exec(
                select(Contact).where(Contact.mailbox_id == mailbox_id, Contact.pattern == pattern)
            ).first()
            if row is None:
                changes.unchanged.append(pattern)
            else:
                session.delete(row)
                changes.done.append(pattern)
    return changes


def parse_contacts_csv(data: bytes) -> tuple[list[str], int]:
    """Every address or @domain found in a CSV file, and how many rows had none.

    Any column counts, so exports from other tools (name, email, company...) import as they
    are; a header row simply has no address and is not counted as a problem.
    """
    if len(data) > MAX_CSV_BYTES:
        raise UserError(
            _(
                "That file is larger than {size} KB. Split it into "
                "smaller CSV files and share them one at a time."
            ).format(size=MAX_CSV_BYTES // 1024)
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    found: list[str] = []
    empty_rows = 0
    for index, row in enumerate(csv.reader(io.StringIO(text), dialect)):
        cells = [c for c in (normalise_pattern(cell) for cell in row if "@" in cell) if c]
        if cells:
            found += cells
        elif index > 0 and any(cell.strip() for cell in row):
            empty_rows += 1
    return list(dict.fromkeys(found)), empty_rows


# --- Sync mode --------------------------------------------------------------------------------


def counterparts(mailbox: Mailbox, sender: str, recipients: list[str], direction: str) -> list[str]:
    """The other party of a mail: its sender when it came in, its recipients when it went out."""
    own = mailbox.address.lower()
    pool = recipients if direction == "out" else [sender]
    return list(dict.fromkeys(a.strip().lower() for a in pool if a and a.strip().lower() != own))


def post_filter(ctx: Core) -> PostFilter:
    """``ctx.sync.post_filters`` entry: in partial mode, only contacts' mail (and answers in a
    thread that is already in Slack) is posted."""

    def accept(mailbox: Mailbox, parsed: InboundEmail, role: str) -> bool:
        if mailbox.sync_mode != "partial":
            return True
        direction = "out" if role == "sent" else "in"
        patterns = patterns_of(ctx, mailbox.id)  # type: ignore[arg-type]
        people = counterparts(mailbox, parsed.from_address, parsed.to + parsed.cc, direction)
        if any(matches(patterns, a) for a in people):
            return True
        with ctx.db.session() as session:
            known = find_conversation(
                session,
                saved_id(mailbox),
                parsed.in_reply_to,
                parsed.references,
            )
            return known is not None and bool(known.thread_ts)

    return accept


# --- Activity ---------------------------------------------------------------------------------


def record_activity(
    ctx: Core,
    mailbox: Mailbox,
    row: Message,
    *,
    answered_by: str | None = None,
    only_contacts: bool = False,
) -> int:
    """Record ``row`` as activity of each of its counterparts; returns how many were new."""
    recipients = [a for a in (row.to_addresses or "").split(",") if a.strip()]
    people = counterparts(mailbox, row.from_address, recipients, row.direction)
    if only_contacts:
        patterns = patterns_of(ctx, mailbox.id)  # type: ignore[arg-type]
        people = [a for a in people if matches(patterns, a)]
    channel = thread_ts = None
    if row.conversation_id is not None:
        with ctx.db.session() as session:
            conversation = session.get(Conversation, row.conversation_id)
            if conversation is not None:
                channel, thread_ts = conversation.channel_id or None, conversation.thread_ts
    occurred = row.sent_at or utcnow()
    added = 0
    for address in people:
        added += ctx.db.insert_once(
            Activity(
                mailbox_id=mailbox.id,  # type: ignore[arg-type]
                message_row_id=row.id,  # type: ignore[arg-type]
                contact_address=address,
                direction=row.direction,
                subject=row.subject,
                answered_by=answered_by,
                channel_id=channel,
                thread_ts=thread_ts,
                occurred_at=occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC),
            )
        )
    return added


def ingest_hook(ctx: Core) -> IngestHook:
    """``ctx.sync.ingest_hooks`` entry: synced mail (inbox and Sent folder) becomes activity."""

    def hook(mailbox: Mailbox, row: Message, parsed: InboundEmail) -> None:
        # In partial mode only contacts' mail is brought in, so only contacts get activity;
        # an answer in a known thread still counts for the contacts it involves.
        record_activity(ctx, mailbox, row, only_contacts=mailbox.sync_mode == "partial")

    return hook


def sent_hook(ctx: Core) -> SentHook:
    """``ctx.replies.sent_hooks`` entry: a reply sent from Slack, with who answered."""

    def hook(mailbox: Mailbox, row: Message) -> None:
        record_activity(
            ctx,
            mailbox,
            row,
            answered_by=row.author_id,
            only_contacts=mailbox.sync_mode == "partial",
        )

    return hook


@dataclass
class ActivityItem:
    activity: Activity
    mailbox_address: str
    link: str | None


def recent_activity(
    ctx: Core, pattern: str, mailbox_ids: list[int], limit: int = 15
) -> list[ActivityItem]:
    """The newest activity of an address (or of a whole ``@domain``) in these mailboxes."""
    if not mailbox_ids:
        return []
    with ctx.db.session() as session:
        query = select(Activity).where(col(Activity.mailbox_id).in_(mailbox_ids))
        if pattern.startswith("@"):
            query = query.where(col(Activity.contact_address).endswith(pattern))
        else:
            query = query.where(Activity.contact_address == pattern)
        rows = list(
            session.exec(
                query.order_by(col(Activity.occurred_at).desc(), col(Activity.id).desc()).limit(
                    limit
                )
            )
        )
        items = []
        for activity in rows:
            mailbox = session.get(Mailbox, activity.mailbox_id)
            items.append(
                ActivityItem(
                    activity, mailbox.address if mailbox else "?", _thread_link(session, activity)
                )
            )
    return items


def _thread_link(session: Session, activity: Activity) -> str | None:
    """A link to the Slack thread; the thread ts is looked up when the post came after the
    activity was recorded (the first mail of a conversation)."""
    channel, thread_ts = activity.channel_id, activity.thread_ts
    if not thread_ts:
        message = session.get(Message, activity.message_row_id)
        conversation = (
            session.get(Conversation, message.conversation_id)
            if message and message.conversation_id
            else None
        )
        if conversation is not None:
            channel, thread_ts = conversation.channel_id, conversation.thread_ts
    if not channel or not thread_ts:
        return None
    return f"https://slack.com/app_redirect?channel={channel}&message_ts={thread_ts}"
