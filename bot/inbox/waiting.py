"""What is waiting for an answer: the open threads a person should look at.

For every mailbox the person may see, the Open threads assigned to them and the unassigned
ones, the customer waiting longest first. "Waiting since" is the customer's first mail
after our last reply in the thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError
from sqlmodel import col, or_, select

from bot.context import AppContext
from storage.models import Conversation, Mailbox, MailboxKind, Message, ThreadStatus

log = logging.getLogger(__name__)

LINKS_LISTED = 20
UNSENT = {
    "pending_send",
    "sending",
    "failed",
    "cancelled",
}  # each link is one chat.getPermalink call


@dataclass
class WaitingThread:
    conversation: Conversation
    mailbox: Mailbox
    since: datetime
    link: str = ""


def visible_mailboxes(ctx: AppContext, user_id: str, team_id: str) -> list[Mailbox]:
    """The mailboxes whose threads the person works on (others' personal ones excluded)."""
    out = []
    for mailbox in ctx.mailboxes.all(team_id or None):
        if mailbox.kind == MailboxKind.MARKETING:
            continue  # never answered from Slack
        if mailbox.kind == MailboxKind.PERSONAL and mailbox.owner_id != user_id:
            continue
        if ctx.roles.can_see(user_id, mailbox):
            out.append(mailbox)
    return out


def waiting_since(ctx: AppContext, conversation_id: int) -> datetime | None:
    """The customer's first mail after our last reply (None: nothing unanswered)."""
    with ctx.db.session() as session:
        rows = session.exec(
            select(Message.direction, Message.state, Message.created_at)
            .where(Message.conversation_id == conversation_id)
            .order_by(col(Message.id))
        ).all()
    since = None
    for direction, state, created in rows:
        if direction == "out" and state not in UNSENT:
            since = None  # we answered (from Slack or from a mail client)
        elif direction == "in" and since is None:
            since = created
    return _aware(since)


def waiting_for(ctx: AppContext, user_id: str, team_id: str) -> list[WaitingThread]:
    mailboxes = {m.id: m for m in visible_mailboxes(ctx, user_id, team_id)}
    if not mailboxes:
        return []
    with ctx.db.session() as session:
        conversations = session.exec(
            select(Conversation).where(
                col(Conversation.mailbox_id).in_(list(mailboxes)),
                Conversation.status == ThreadStatus.OPEN,
                col(Conversation.thread_ts).is_not(None),
                or_(
                    Conversation.assignee_id == user_id,
                    col(Conversation.assignee_id).is_(None),
                ),
            )
        ).all()
    found = []
    for conversation in conversations:
        since = waiting_since(ctx, conversation.id) or _aware(conversation.last_message_at)  # type: ignore[arg-type]
        found.append(WaitingThread(conversation, mailboxes[conversation.mailbox_id], since))
    found.sort(key=lambda w: (w.since, w.conversation.id))
    for item in found[:LINKS_LISTED]:
        item.link = permalink(ctx, item.conversation)
    return found


def permalink(ctx: AppContext, conversation: Conversation) -> str:
    try:
        return str(
            ctx.slack.client.chat_getPermalink(
                channel=conversation.channel_id, message_ts=conversation.thread_ts or ""
            )["permalink"]
        )
    except SlackApiError as exc:
        log.info("no permalink for %s: %s", conversation.id, exc.response.get("error"))
        return ""


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def counts(ctx: AppContext, user_id: str, team_id: str) -> tuple[int, int]:
    """(assigned to the person, unassigned) open threads, for App Home."""
    mailboxes = [m.id for m in visible_mailboxes(ctx, user_id, team_id)]
    if not mailboxes:
        return 0, 0
    with ctx.db.session() as session:
        rows = session.exec(
            select(Conversation.assignee_id).where(
                col(Conversation.mailbox_id).in_(mailboxes),
                Conversation.status == ThreadStatus.OPEN,
                col(Conversation.thread_ts).is_not(None),
                or_(
                    Conversation.assignee_id == user_id,
                    col(Conversation.assignee_id).is_(None),
                ),
            )
        ).all()
    mine = sum(1 for assignee in rows if assignee == user_id)
    return mine, len(rows) - mine
