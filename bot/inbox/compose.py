"""New email from Slack (/mail-send, the global shortcut): a thread that starts with our mail.

The compose modal offers only the mailboxes the person may send from (their personal
mailbox; shared ones for sales and admins; never a marketing mailbox) and every choice is
checked again on submit. The mail is recorded (conversation + outgoing message, PENDING_SEND)
in one transaction before anything else, keyed on the modal's view id so a double submit
records it once; then the thread's root post is made in the mailbox's channel (or the
person's DM with Mailroom for a personal mailbox without one) and the message is sent through
the same exactly-once path as thread replies. The customer's answer carries our Message-ID in
In-Reply-To, so it lands in that thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.blocks.inbox import composed_root_blocks
from bot.context import AppContext
from bot.formatting.outbound import MAX_REPLY_RECIPIENTS, make_message_id
from storage.models import (
    Conversation,
    Mailbox,
    MailboxKind,
    Message,
    MessageState,
    ThreadStatus,
)

log = logging.getLogger(__name__)

SUBJECT_LIMIT = 250


@dataclass
class Draft:
    mailbox_id: int
    to: list[str]
    cc: list[str]
    subject: str
    body: str


def sendable_mailboxes(ctx: AppContext, user_id: str, team_id: str) -> list[Mailbox]:
    """The mailboxes ``user_id`` may start an email from."""
    return [
        m
        for m in ctx.mailboxes.all(team_id or None)
        if m.kind != MailboxKind.MARKETING and ctx.replies.refusal(user_id, m) is None
    ]


def parse_addresses(text: str) -> tuple[list[str], list[str]]:
    """(valid normalised addresses, the entries that are not addresses)."""
    good, bad = [], []
    for part in text.replace(";", ",").replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        # "Carla <carla@x.com>" is accepted as typed; only the address is kept.
        name, address = parseaddr(part)
        try:
            if not address or (name and "@" in name):
                raise EmailNotValidError(part)
            good.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError:
            bad.append(part)
    return good, bad


def check_draft(
    ctx: AppContext, user_id: str, values: dict[str, str]
) -> tuple[Draft | None, dict[str, str]]:
    """The draft, or the modal's field errors (block id → sentence)."""
    errors: dict[str, str] = {}
    mailbox_id = values.get("from", "")
    mailbox = ctx.mailboxes.get(int(mailbox_id)) if mailbox_id.isdigit() else None
    if mailbox is None:
        errors["from"] = "Pick the mailbox to send from."
    elif mailbox.kind == MailboxKind.MARKETING:
        errors["from"] = (
            f"{mailbox.address} is a marketing mailbox: it never sends 1:1 email. "
            "Pick a personal or shared mailbox."
        )
    else:
        refusal = ctx.replies.refusal(user_id, mailbox)
        if refusal:
            errors["from"] = refusal
    to, bad_to = parse_addresses(values.get("to", ""))
    cc, bad_cc = parse_addresses(values.get("cc", ""))
    if bad_to or not to:
        errors["to"] = (
            f"{', '.join(bad_to)} is not an email address." if bad_to else "Add a recipient."
        )
    if bad_cc:
        errors["cc"] = f"{', '.join(bad_cc)} is not an email address."
    if len(to) + len(cc) > MAX_REPLY_RECIPIENTS:
        errors["to"] = f"Mailroom sends to at most {MAX_REPLY_RECIPIENTS} addresses at once."
    subject = values.get("subject", "").strip()
    if not subject:
        errors["subject"] = "Add a subject."
    elif len(subject) > SUBJECT_LIMIT or any(c in subject for c in "\r\n"):
        errors["subject"] = f"Keep the subject to one line of at most {SUBJECT_LIMIT} characters."
    body = values.get("body", "").strip()
    if not body:
        errors["body"] = "Write the message."
    if errors or mailbox is None:
        return None, errors
    return Draft(mailbox.id, to, cc, subject, body), {}  # type: ignore[arg-type]


def thread_channel(ctx: AppContext, mailbox: Mailbox, user_id: str) -> str:
    """The mailbox's channel; a personal mailbox without one: the person's DM with Mailroom."""
    if mailbox.channel_id:
        return mailbox.channel_id
    return str(ctx.slack.client.conversations_open(users=user_id)["channel"]["id"])


def record(ctx: AppContext, draft: Draft, user_id: str, key: str) -> Message | None:
    """Record the conversation and the outgoing mail at once; None when ``key`` (the modal's
    view id) was recorded already (a double submit)."""
    mailbox = ctx.mailboxes.get(draft.mailbox_id)
    assert mailbox is not None
    channel = thread_channel(ctx, mailbox, user_id)
    conversation = Conversation(
        mailbox_id=mailbox.id,  # type: ignore[arg-type]
        channel_id=channel,
        subject=draft.subject,
        customer_address=draft.to[0],
        status=ThreadStatus.WAITING,
        assignee_id=user_id,  # who starts a conversation handles it
    )
    row = Message(
        mailbox_id=mailbox.id,  # type: ignore[arg-type]
        message_id=make_message_id(mailbox.address),
        direction="out",
        subject=draft.subject,
        from_address=mailbox.address,
        from_name=mailbox.sender_name,
        to_addresses=", ".join(draft.to),
        cc_addresses=", ".join(draft.cc),
        source_channel=channel,
        source_ts=f"compose:{key}",
        author_id=user_id,
        state=MessageState.PENDING_SEND,
        body_text=draft.body,
    )
    try:
        with ctx.db.session() as session:
            session.add(conversation)
            session.flush()
            row.conversation_id = conversation.id
            session.add(row)
            session.flush()
            session.refresh(row)
            session.expunge(row)
    except IntegrityError:
        return None
    return row


def start(ctx: AppContext, draft: Draft, user_id: str, key: str) -> Message | None:
    """Record, post the thread's root, send. Returns the recorded message (None: duplicate)."""
    row = record(ctx, draft, user_id, key)
    if row is None:
        return None
    mailbox = ctx.mailboxes.get(draft.mailbox_id)
    assert mailbox is not None
    text, blocks = composed_root_blocks(
        user_id, mailbox.address, draft.to, draft.cc, draft.subject, draft.body, user_id
    )
    try:
        ts = ctx.slack.post(row.source_channel or "", text, blocks=blocks)
    except SlackApiError as exc:
        # The mail still leaves; the customer's answer then starts a thread of its own.
        log.warning("could not post the new conversation: %s", exc.response.get("error"))
    else:
        with ctx.db.session() as session:
            conversation = session.exec(
                select(Conversation).where(Conversation.id == row.conversation_id)
            ).one()
            conversation.thread_ts = ts
            session.add(conversation)
    ctx.replies.send(row.id)  # type: ignore[arg-type]
    return row
