"""/mail-contact: recent activity with a contact (arrives with its own issue)."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.common import not_available_yet


def register(app: App, ctx: AppContext) -> None:
    app.command("/mail-contact")(not_available_yet(ctx, "/mail-contact", "contact activity"))
