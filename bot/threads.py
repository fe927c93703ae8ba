"""Which conversation (Slack thread) an email belongs to."""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.models import Conversation, Message

# The newest References ids looked up (the same bound as bot.formatting.inbound applies).
MAX_REFERENCES = 50


def find_conversation(
    session: Session, mailbox_id: int, in_reply_to: str | None, references: list[str]
) -> Conversation | None:
    """The conversation of the newest known message this mail answers, if any.

    In-Reply-To is checked first (the direct parent), then References from the newest end,
    so a mail quoting a long chain joins the thread of its closest known ancestor. Only the
    newest MAX_REFERENCES are used: one query's parameters are bounded (PostgreSQL refuses
    more than 65,535, which once stalled a mailbox on one hostile header).
    """
    candidates = [in_reply_to] if in_reply_to else []
    newest = [ref for ref in reversed(references[-MAX_REFERENCES:]) if ref and ref != in_reply_to]
    candidates += newest
    if not candidates:
        return None
    rows = session.exec(
        select(Message)
        .where(
            Message.mailbox_id == mailbox_id,
            col(Message.message_id).in_(candidates),
            col(Message.conversation_id).is_not(None),
        )
        .order_by(col(Message.id))
    ).all()
    # Ordered by id, so when mailers reused a Message-ID the newest mail with it wins.
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
