"""Tell a person something once.

Each notification has a key ("sync-failing:12:since:<ts>") stored with a unique constraint:
however many pollers, retries or processes reach the same situation, one message goes out.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import select

from bot.slack_client import Slack
from storage.db import Database
from storage.models import Notification, utcnow

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, db: Database, slack: Slack) -> None:
        self.db = db
        self.slack = slack

    def once(
        self, key: str, recipient: str, text: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> bool:
        """Send ``text`` to ``recipient`` (user → DM, channel id → channel) unless ``key``
        was already sent. Returns True when this call sent it."""
        if not self.db.insert_once(Notification(key=key, recipient=recipient, text=text)):
            return False
        try:
            self.slack.post(recipient, text, blocks=blocks)
        except Exception:
            # Not sent: forget the key so a later attempt can try again.
            with self.db.session() as session:
                row = session.exec(select(Notification).where(Notification.key == key)).first()
                if row is not None:
                    session.delete(row)
            raise
        with self.db.session() as session:
            row = session.exec(select(Notification).where(Notification.key == key)).one()
            row.sent_at = utcnow()
            session.add(row)
        return True

    def was_sent(self, key: str) -> bool:
        with self.db.session() as session:
            return (
                session.exec(select(Notification).where(Notification.key == key)).first()
                is not None
            )
