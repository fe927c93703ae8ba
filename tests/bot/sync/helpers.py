"""What the sync tests read back: the email posts in a channel, and the recorded rows."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.models import FolderState, Message
from tests.support.harness import Harness

CHANNEL = "C_SALES"


def email_posts(h: Harness, channel: str = CHANNEL) -> list[dict]:
    """Every email Mailroom posted into the channel (roots and thread replies)."""
    return [
        m
        for m in h.slack.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == "mailroom_email"
    ]


def rendered(message: dict) -> str:
    return json.dumps({"text": message.get("text"), "blocks": message.get("blocks")})


def rows(h: Harness, mailbox_id: int) -> list[Message]:
    with h.ctx.db.session() as session:
        return list(
            session.exec(
                select(Message).where(Message.mailbox_id == mailbox_id).order_by(Message.id)
            ).all()
        )


def row_with_subject(h: Harness, mailbox_id: int, subject: str) -> Message:
    return next(r for r in rows(h, mailbox_id) if r.subject == subject)


def last_uid(h: Harness, mailbox_id: int) -> int:
    with h.ctx.db.session() as session:
        return (
            session.exec(
                select(FolderState).where(
                    FolderState.mailbox_id == mailbox_id, FolderState.folder == "INBOX"
                )
            )
            .one()
            .last_uid
        )


def posted_subjects(h: Harness) -> list[str]:
    return [json.dumps(m.get("blocks")) for m in email_posts(h)]


def count_posts_with(h: Harness, needle: str) -> int:
    return sum(needle in text for text in posted_subjects(h))
