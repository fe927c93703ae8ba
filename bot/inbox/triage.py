"""Who handles a thread and where it stands: Open → Waiting → Done, Snoozed.

The status follows the mail: a customer's mail makes the thread Open (also a Done or
Snoozed one), a reply that leaves makes it Waiting. People assign it and mark it Done or
Snoozed from the root post's buttons; every change is said in the thread and the root post
is updated (chat.update) to show it. Every id from Slack is checked against who asks: the
thread is found by the clicked message (channel + ts), and both the person clicking and the
person assigned must be allowed to answer from the thread's mailbox.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlmodel import col, select

from bot.blocks.inbox import (
    assigned_note,
    new_mail_mention,
    status_note,
    triage_blocks,
    without_triage,
)
from bot.context import AppContext
from bot.formatting.inbound import InboundEmail
from bot.mailboxes import MAILBOX_REMOVED
from locales import _
from providers.errors import UserError
from storage.models import (
    Conversation,
    Mailbox,
    Message,
    Notification,
    Role,
    ThreadStatus,
    User,
    utcnow,
)

log = logging.getLogger(__name__)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- Finding the thread and checking who asks ------------------------------------------------


def conversation_for_post(ctx: AppContext, channel: str, ts: str) -> Conversation:
    """The conversation whose root post is (channel, ts); refused for anything else."""
    with ctx.db.session() as session:
        conversation = session.exec(
            select(Conversation).where(
                Conversation.channel_id == channel, Conversation.thread_ts == ts
            )
        ).first()
    if conversation is None:
        raise UserError(_("That message is not an email thread Mailroom knows any more."))
    return conversation


def checked_conversation(ctx: AppContext, conversation_id: int, user_id: str) -> Conversation:
    """The conversation, if ``user_id`` may work on it (answer from its mailbox)."""
    with ctx.db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        mailbox = session.get(Mailbox, conversation.mailbox_id) if conversation else None
    if conversation is None or mailbox is None:
        raise UserError(_("That conversation no longer exists."))
    if mailbox.removed_at is not None:
        raise UserError(_(MAILBOX_REMOVED).format(address=mailbox.address))
    refusal = ctx.roles.reply_refusal(user_id, mailbox)
    if refusal:
        raise UserError(_("You cannot handle this conversation: {refusal}").format(refusal=refusal))
    return conversation


def eligible_assignees(ctx: AppContext, mailbox: Mailbox) -> list[tuple[str, str]]:
    """(user id, name) of the people who may answer from ``mailbox``."""
    with ctx.db.session() as session:
        users = session.exec(select(User).where(col(User.team_id).in_([mailbox.team_id, ""]))).all()
    ids = {u.id for u in users} | set(ctx.roles.extra_admins)
    if mailbox.kind == "personal":
        ids = {mailbox.owner_id}
    names = {u.id: u.name or u.id for u in users}
    people = []
    for user_id in sorted(ids):
        stored = next((u for u in users if u.id == user_id), None)
        plausible = (
            user_id == mailbox.owner_id
            or user_id in ctx.roles.extra_admins
            or (
                stored is not None
                and (stored.is_workspace_admin or stored.role in (Role.SALES, Role.ADMIN))
            )
        )
        if plausible and ctx.roles.reply_refusal(user_id, mailbox) is None:
            people.append((user_id, names.get(user_id, user_id)))
    return people


# --- Changes from people ------------------------------------------------------------------------


def assign(ctx: AppContext, conversation_id: int, actor: str, assignee: str) -> None:
    conversation = checked_conversation(ctx, conversation_id, actor)
    mailbox = ctx.mailboxes.get(conversation.mailbox_id)
    assert mailbox is not None
    if ctx.roles.reply_refusal(assignee, mailbox) is not None:
        raise UserError(
            _(
                "<@{assignee}> cannot answer from {address}, so this conversation cannot "
                "be assigned to them. Pick someone with the sales or admin role "
                "(an admin can grant it with `/mail-role`)."
            ).format(assignee=assignee, address=mailbox.address)
        )
    with ctx.db.session() as session:
        session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id)
            .values(assignee_id=assignee)
        )
    _say(ctx, conversation, assigned_note(actor, assignee))
    refresh_root(ctx, conversation_id)


def set_status(
    ctx: AppContext,
    conversation_id: int,
    actor: str,
    status: ThreadStatus,
    snoozed_until: datetime | None = None,
) -> None:
    conversation = checked_conversation(ctx, conversation_id, actor)
    if status == ThreadStatus.SNOOZED and (
        snoozed_until is None or _aware(snoozed_until) <= utcnow()  # type: ignore[operator]
    ):
        raise UserError(_("That time has already passed. Pick a time in the future."))
    with ctx.db.session() as session:
        session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id)
            .values(status=status, snoozed_until=snoozed_until)
        )
    if status == ThreadStatus.SNOOZED:
        schedule_wake(ctx, conversation_id, snoozed_until)  # type: ignore[arg-type]
    _say(ctx, conversation, status_note(actor, status, snoozed_until))
    refresh_root(ctx, conversation_id)


# --- Changes from mail ----------------------------------------------------------------------------


def on_mail_recorded(ctx: AppContext, mailbox: Mailbox, row: Message, parsed: InboundEmail) -> None:
    """A mail joined a thread: the customer's reopens it and tells its assignee (once per
    mail); one sent from a mail client means we answered."""
    if row.conversation_id is None:
        return
    if row.direction == "out":
        _move(ctx, row.conversation_id, ThreadStatus.WAITING)
        return
    with ctx.db.session() as session:
        conversation = session.get(Conversation, row.conversation_id)
    if conversation is None or conversation.thread_ts is None:
        return  # a new thread: its root post shows it Open
    _move(ctx, row.conversation_id, ThreadStatus.OPEN)
    if conversation.assignee_id:
        _mention_once(ctx, conversation, row)


def remember_cc(ctx: AppContext, row: Message, parsed: InboundEmail) -> None:
    """Keep a mail's Cc: an `all:` reply copies them."""
    if row.direction == "in" and parsed.cc:
        with ctx.db.session() as session:
            session.exec(
                update(Message)
                .where(col(Message.id) == row.id)
                .values(cc_addresses=", ".join(parsed.cc)[:4000])
            )


def on_reply_sent(ctx: AppContext, mailbox: Mailbox, row: Message) -> None:
    if row.conversation_id is not None:
        _move(ctx, row.conversation_id, ThreadStatus.WAITING)


def _move(ctx: AppContext, conversation_id: int, status: ThreadStatus) -> None:
    with ctx.db.session() as session:
        changed = session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id, col(Conversation.status) != status)
            .values(status=status, snoozed_until=None)
        ).rowcount
    if changed:
        ctx.scheduler.remove(f"wake:{conversation_id}")
        refresh_root(ctx, conversation_id)


def _mention_once(ctx: AppContext, conversation: Conversation, row: Message) -> None:
    key = f"assignee-mail:{row.id}"
    assignee = conversation.assignee_id or ""
    if not ctx.db.insert_once(Notification(key=key, recipient=assignee)):
        return
    try:
        ctx.slack.post(
            conversation.channel_id, new_mail_mention(assignee), thread_ts=conversation.thread_ts
        )
    except SlackApiError as exc:
        log.warning("could not mention the assignee: %s", exc.response.get("error"))


# --- Snooze --------------------------------------------------------------------------------------


def schedule_wake(ctx: AppContext, conversation_id: int, when: datetime) -> None:
    delay = max(0.0, (_aware(when) - utcnow()).total_seconds())  # type: ignore[operator]
    ctx.scheduler.once(f"wake:{conversation_id}", wake, ctx, conversation_id, delay=delay)


def wake(ctx: AppContext, conversation_id: int) -> None:
    """A snooze ended: Open again (unless the customer or someone changed it meanwhile)."""
    with ctx.db.session() as session:
        woke = session.exec(
            update(Conversation)
            .where(
                col(Conversation.id) == conversation_id,
                col(Conversation.status) == ThreadStatus.SNOOZED,
                col(Conversation.snoozed_until) <= utcnow(),
            )
            .values(status=ThreadStatus.OPEN, snoozed_until=None)
        ).rowcount
        conversation = session.get(Conversation, conversation_id)
    if woke and conversation is not None:
        if conversation.assignee_id:
            said = _("<@{assignee}>, this snoozed conversation is open again.").format(
                assignee=conversation.assignee_id
            )
        else:
            said = _("this snoozed conversation is open again.")
        _say(ctx, conversation, ":alarm_clock: " + said)
        refresh_root(ctx, conversation_id)


def resume_snoozes(ctx: AppContext) -> None:
    """At start: a snooze that ended while Mailroom was down wakes now, the rest on time."""
    with ctx.db.session() as session:
        rows = session.exec(
            select(Conversation.id, Conversation.snoozed_until).where(
                Conversation.status == ThreadStatus.SNOOZED
            )
        ).all()
    for conversation_id, until in rows:
        schedule_wake(ctx, conversation_id, until or utcnow())  # type: ignore[arg-type]


# --- Showing it ------------------------------------------------------------------------------------


def refresh_root(ctx: AppContext, conversation_id: int) -> None:
    """Rewrite the root post's status line and buttons; the email part is kept as posted."""
    with ctx.db.session() as session:
        conversation = session.get(Conversation, conversation_id)
    if conversation is None or not conversation.thread_ts:
        return
    channel, ts = conversation.channel_id, conversation.thread_ts
    try:
        found = (
            ctx.slack.client.conversations_history(
                channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
            ).get("messages")
            or []
        )
        if not found or found[0].get("ts") != ts:
            return
        root = found[0]
        blocks = without_triage(root.get("blocks") or []) + triage_blocks(
            conversation.status, conversation.assignee_id, _aware(conversation.snoozed_until)
        )
        ctx.slack.client.chat_update(
            channel=channel, ts=ts, text=root.get("text") or _("Email"), blocks=blocks
        )
    except SlackApiError as exc:
        log.info(
            "could not update the root post of %s: %s", conversation_id, exc.response.get("error")
        )


def _say(ctx: AppContext, conversation: Conversation, text: str) -> None:
    if not conversation.thread_ts:
        return
    try:
        ctx.slack.post(conversation.channel_id, text, thread_ts=conversation.thread_ts)
    except SlackApiError as exc:
        log.info("could not note a change in the thread: %s", exc.response.get("error"))
