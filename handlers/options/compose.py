"""The To and Cc suggestions of the compose modal (/mail-send)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.common import option
from bot.blocks.inbox import CONTACTS_ACTION
from bot.context import AppContext
from bot.inbox.compose import suggestions
from handlers.common import team_of, user_of

log = logging.getLogger(__name__)


def register(app: App, ctx: AppContext) -> None:
    @app.options(CONTACTS_ACTION)
    def suggest_contacts(ack: Ack, body: dict[str, Any]) -> None:
        # Only the contacts of the mailboxes this person may send from (checked here, on
        # every request: the user id is Slack's, the query is whatever was typed).
        try:
            found = suggestions(ctx, user_of(body), team_of(body), str(body.get("value") or ""))
        except Exception:
            log.exception("contact suggestions failed")
            found = []
        ack(options=[option(text, value) for text, value in found])
