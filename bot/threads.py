"""Which conversation (Slack thread) an email belongs to."""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.models import Conversation, Message


def find_conversation(
    session: Session, mailbox_id: int, in_reply_to: str | None, references: list[str]
) -> Conversation | None:
    """The conversation of the newest known message this mail answers, if any.

    In-Reply-To is checked first (the direct parent), then References from the newest end,
    so a mail quoting a long chain joins the thread of its closest known ancestor.
    """
    candidates = [in_reply_to] if in_reply_to else []
    candidates += [ref for ref in reversed(references) if ref and ref != in_reply_to]
    if not candidates:
        return None
    rows = session.exec(
        select(Message).where(
            Message.mailbox_id == mailbox_id,
            col(Message.message_id).in_(candidates),
            col(Message.conversation_id).is_not(None),
        )
    ).all()
    by_id = {row.message_id: row for row in rows}
    for candidate in candidates:
        row = by_id.get(candidate)
        if row is not None:
            return session.get(Conversation, row.conversation_id)
    return None


def latest_message(
    session: Session, conversation_id: int, direction: str | None = None
) -> Message | None:
    """The conversation's newest mail; ``direction="in"``: the customer's newest, which a
    reply answers."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    if direction:
        query = query.where(Message.direction == direction)
    return session.exec(query.order_by(col(Message.id).desc())).first()
