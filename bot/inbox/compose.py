"""New email from Slack (/mail-send, the global shortcut): a thread that starts with our mail.

The compose modal offers only the mailboxes the person may send from (their personal
mailbox; shared ones for sales and admins; never a marketing mailbox) and every choice is
checked again on submit. To and Cc suggest the people those mailboxes have exchanged mail
with (``suggestions``, served to Slack's external selects) and accept any valid address
typed; every selected value is validated again on submit. Files uploaded in the modal are
asked of Slack by id and must be the person's own uploads (bot.slack_files.own_files).

The mail is recorded (conversation + outgoing message PENDING_SEND, its files with it) in
one transaction BEFORE the modal is acknowledged, keyed on the modal's view id so a double
submit records it once; then the thread's root post is made in the mailbox's channel (or the
person's DM with Mailroom for a personal mailbox without one) and the message is sent through
the same exactly-once path as thread replies (whose recover() also finishes a mail recorded
by a process that died after the ack). The customer's answer carries our Message-ID in
In-Reply-To, so it lands in that thread.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from slack_sdk.errors import SlackApiError
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.blocks.inbox import composed_root_blocks
from bot.connect import view_values
from bot.context import AppContext
from bot.formatting.outbound import MAX_REPLY_RECIPIENTS, make_message_id, split_addresses
from bot.replies import COMPOSED
from bot.slack_files import own_files, size_limit_text, stored_file
from locales import _, ngettext, speaking
from providers.errors import MailroomError, UserError
from storage.models import (
    Conversation,
    Mailbox,
    MailboxKind,
    Message,
    MessageState,
    ThreadStatus,
    saved_id,
)

log = logging.getLogger(__name__)

SUBJECT_LIMIT = 250
SUGGESTIONS = 20  # contacts offered per query
ADDRESS_VALUE_LIMIT = 150  # Slack's limit on an option's value


@dataclass
class Draft:
    mailbox_id: int
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    files: list[dict[str, Any]] = field(default_factory=list)  # stored_file() entries


def sendable_mailboxes(ctx: AppContext, user_id: str, team_id: str) -> list[Mailbox]:
    """The mailboxes ``user_id`` may start an email from."""
    return [
        m
        for m in ctx.mailboxes.all(team_id or None)
        if m.kind != MailboxKind.MARKETING and ctx.replies.refusal(user_id, m) is None
    ]


def valid_addresses(values: list[str]) -> tuple[list[str], list[str]]:
    """(valid normalised addresses, the values that are not addresses); each value is one
    bare address (an option's value: untrusted, it came back from Slack's form)."""
    good: list[str] = []
    bad: list[str] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            address = validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError:
            bad.append(value)
            continue
        if address.lower() not in {a.lower() for a in good}:
            good.append(address)
    return good, bad


def selected_values(state_values: dict[str, Any], block: str) -> list[str]:
    """The values picked in a multi select of the modal."""
    element = next(iter((state_values.get(block) or {}).values()), None) or {}
    return [str(o.get("value") or "") for o in element.get("selected_options") or []]


def uploaded_file_ids(state_values: dict[str, Any]) -> list[str]:
    """The ids of the files put in the modal's file input (untrusted)."""
    element = next(iter((state_values.get("files") or {}).values()), None) or {}
    return [str(f.get("id") or "") for f in element.get("files") or []]


def check_files(ctx: AppContext, user_id: str, file_ids: list[str]) -> list[dict[str, Any]]:
    """The modal's files as stored with the mail; raises MailroomError with the sentence for
    the files block (a file not uploaded by ``user_id``, too many, too large)."""
    limit = ctx.settings.attachment_max_count
    if len(file_ids) > limit:
        raise UserError(
            ngettext("Attach at most {limit} file.", "Attach at most {limit} files.", limit).format(
                limit=limit
            )
        )
    files = [stored_file(f) for f in own_files(ctx.slack.client, file_ids, user_id)]
    cap = ctx.settings.attachment_max_bytes
    for item in files:
        if item["size"] > cap:
            raise UserError(
                _(
                    "The file {name} is larger than the {limit} attachment limit. Share a link "
                    "to it in the message instead."
                ).format(name=item["name"], limit=size_limit_text(cap))
            )
    return files


def check_draft(
    ctx: AppContext, user_id: str, state_values: dict[str, Any]
) -> tuple[Draft | None, dict[str, str]]:
    """The draft from the modal's state, or its field errors (block id → sentence)."""
    errors: dict[str, str] = {}
    values = view_values(state_values)
    mailbox_id = values.get("from", "")
    mailbox = ctx.mailboxes.get(int(mailbox_id)) if mailbox_id.isdigit() else None
    if mailbox is None:
        errors["from"] = _("Pick the mailbox to send from.")
    elif mailbox.kind == MailboxKind.MARKETING:
        errors["from"] = _(
            "{address} is a marketing mailbox: it never sends 1:1 email. "
            "Pick a personal or shared mailbox."
        ).format(address=mailbox.address)
    else:
        refusal = ctx.replies.refusal(user_id, mailbox)
        if refusal:
            errors["from"] = refusal
    to, bad_to = valid_addresses(selected_values(state_values, "to"))
    cc, bad_cc = valid_addresses(selected_values(state_values, "cc"))
    cc = [a for a in cc if a.lower() not in {t.lower() for t in to}]
    if bad_to or not to:
        errors["to"] = (
            _("{addresses} is not an email address.").format(addresses=", ".join(bad_to))
            if bad_to
            else _("Add a recipient.")
        )
    if bad_cc:
        errors["cc"] = _("{addresses} is not an email address.").format(addresses=", ".join(bad_cc))
    if len(to) + len(cc) > MAX_REPLY_RECIPIENTS:
        errors["to"] = _("Mailroom sends to at most {limit} addresses at once.").format(
            limit=MAX_REPLY_RECIPIENTS
        )
    subject = values.get("subject", "").strip()
    if not subject:
        errors["subject"] = _("Add a subject.")
    elif len(subject) > SUBJECT_LIMIT or any(c in subject for c in "\r\n"):
        errors["subject"] = _("Keep the subject to one line of at most {limit} characters.").format(
            limit=SUBJECT_LIMIT
        )
    body = values.get("body", "").strip()
    if not body:
        errors["body"] = _("Write the message.")
    files: list[dict[str, Any]] = []
    file_ids = uploaded_file_ids(state_values)
    if file_ids and not errors:
        try:
            files = check_files(ctx, user_id, file_ids)
        except MailroomError as exc:
            errors["files"] = exc.message
    if errors or mailbox is None:
        return None, errors
    return Draft(mailbox.id, to, cc, subject, body, files), {}  # type: ignore[arg-type]


def suggestions(ctx: AppContext, user_id: str, team_id: str, query: str) -> list[tuple[str, str]]:
    """(option text, address) for To/Cc: the typed text when it is a valid address, then
    the people the mailboxes ``user_id`` may send from have exchanged mail with, matching
    ``query`` by address or name, newest first. Never another mailbox's contacts."""
    from bot.formatting.slack_text import escape, truncate

    query = query.strip()
    if not query:
        return []
    found: dict[str, tuple[str, str]] = {}  # lowercased address -> (name, address)
    typed, _invalid = valid_addresses([query])
    for address in typed:
        found[address.lower()] = ("", address)
    mailboxes = sendable_mailboxes(ctx, user_id, team_id)
    own = {m.address.lower() for m in mailboxes}
    for name, address in _contacts(ctx, [m.id for m in mailboxes], query):  # type: ignore[misc]
        key = address.lower()
        if key in own or len(address) > ADDRESS_VALUE_LIMIT:
            continue
        if key not in found and not valid_addresses([address])[0]:
            continue  # never offer what the submit would refuse
        if key not in found:
            found[key] = (name, address)
        elif name and not found[key][0]:
            found[key] = (name, found[key][1])
        if len(found) >= SUGGESTIONS + len(typed):
            break
    options = []
    for name, address in list(found.values())[: SUGGESTIONS + len(typed)]:
        text = f"{name} <{address}>" if name and name.lower() != address.lower() else address
        options.append((truncate(escape(text), 75), address))
    return options


def _contacts(ctx: AppContext, mailbox_ids: list[int], query: str) -> list[tuple[str, str]]:
    """(name, address) of customers of ``mailbox_ids`` matching ``query``, newest first."""
    if not mailbox_ids:
        return []
    needle = query.lower()
    rows: list[tuple[str, str]] = []
    with ctx.db.session() as session:
        customers = session.exec(
            select(Conversation.customer_name, Conversation.customer_address)
            .where(
                col(Conversation.mailbox_id).in_(mailbox_ids),
                Conversation.customer_address != "",
                or_(
                    col(Conversation.customer_address).icontains(query, autoescape=True),
                    col(Conversation.customer_name).icontains(query, autoescape=True),
                ),
            )
            .order_by(col(Conversation.last_message_at).desc())
            .limit(200)
        ).all()
        senders = session.exec(
            select(Message.from_name, Message.from_address)
            .where(
                col(Message.mailbox_id).in_(mailbox_ids),
                Message.direction == "in",
                Message.from_address != "",
                or_(
                    col(Message.from_address).icontains(query, autoescape=True),
                    col(Message.from_name).icontains(query, autoescape=True),
                ),
            )
            .order_by(col(Message.id).desc())
            .limit(200)
        ).all()
        written = session.exec(
            select(Message.to_addresses, Message.cc_addresses)
            .where(
                col(Message.mailbox_id).in_(mailbox_ids),
                Message.direction == "out",
                or_(
                    col(Message.to_addresses).icontains(query, autoescape=True),
                    col(Message.cc_addresses).icontains(query, autoescape=True),
                ),
            )
            .order_by(col(Message.id).desc())
            .limit(200)
        ).all()
    rows.extend((name or "", address) for name, address in customers)
    rows.extend((name or "", address) for name, address in senders)
    for to, cc in written:
        rows.extend(
            ("", a) for a in split_addresses(to) + split_addresses(cc) if needle in a.lower()
        )
    return rows


def thread_channel(ctx: AppContext, mailbox: Mailbox, user_id: str) -> str:
    """The mailbox's channel; a personal mailbox without one: the person's DM with Mailroom."""
    if mailbox.channel_id:
        return mailbox.channel_id
    return str(ctx.slack.client.conversations_open(users=user_id)["channel"]["id"])


def record(ctx: AppContext, draft: Draft, user_id: str, key: str) -> Message | None:
    """Record the conversation and the outgoing mail (with its files) at once; None when
    ``key`` (the modal's view id) was recorded already (a double submit). Runs before the
    modal is acknowledged: once Slack is told "sent", the mail is on record."""
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
        source_ts=f"{COMPOSED}{key}",
        author_id=user_id,
        state=MessageState.PENDING_SEND,
        body_text=draft.body,
        files_json=json.dumps(draft.files) if draft.files else None,
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


# The metadata of a new conversation's first post: found again after a crash (post_root).
ROOT_METADATA_EVENT = "mailroom_compose"


def start(ctx: AppContext, row: Message) -> None:
    """After the ack: post the thread's root, then send the recorded mail (exactly once).
    Nothing of this row was posted before (it was recorded just now), so Slack is not
    searched for an earlier post."""
    post_root(ctx, row, recovering=False)
    ctx.replies.send(saved_id(row))


def recover_root(ctx: AppContext, row: Message) -> None:
    """``ReplyService.before_recovered_send``: the first post of a mail written here whose
    process died after the ack; found by its metadata (not posted again) when the crash came
    after Slack took it."""
    post_root(ctx, row, recovering=True)


def post_root(ctx: AppContext, row: Message, *, recovering: bool) -> None:
    """The conversation's first post in Slack, once: skipped when its thread is known; when
    ``recovering``, first looked for in Slack by its metadata."""
    if not row.source_ts or not row.source_ts.startswith(COMPOSED):
        return  # a reply in an existing thread
    with ctx.db.session() as session:
        conversation = session.get(Conversation, row.conversation_id)
    if conversation is None or conversation.thread_ts:
        return
    mailbox = ctx.mailboxes.get(row.mailbox_id)
    if mailbox is None:
        return  # removed meanwhile: its mail is refused too
    author = row.author_id or ""
    channel = row.source_channel or ""
    # The mailbox's channel reads the workspace language; the author's DM reads theirs.
    reader = (
        ctx.languages.of(author) if channel.startswith("D") else ctx.languages.of_channel(channel)
    )
    with speaking(reader):
        text, blocks = composed_root_blocks(
            author,
            mailbox.address,
            split_addresses(row.to_addresses),
            split_addresses(row.cc_addresses),
            row.subject,
            row.body_text or "",
            author,
            files=[str(f.get("name") or "file") for f in json.loads(row.files_json or "[]")],
        )
    payload = {"message": saved_id(row)}
    created = row.created_at.replace(tzinfo=row.created_at.tzinfo or UTC)
    ts = (
        ctx.slack.find_post(
            channel, (created - timedelta(minutes=5)).timestamp(), ROOT_METADATA_EVENT, payload
        )
        if recovering
        else None
    )
    try:
        if ts is None:
            ts = ctx.slack.post(
                channel,
                text,
                blocks=blocks,
                metadata={"event_type": ROOT_METADATA_EVENT, "event_payload": payload},
            )
    except SlackApiError as exc:
        # The mail still leaves; the customer's answer then starts a thread of its own.
        log.warning("could not post the new conversation: %s", exc.response.get("error"))
        return
    with ctx.db.session() as session:
        found = session.get(Conversation, row.conversation_id)
        if found is not None:
            found.thread_ts = ts
            session.add(found)
