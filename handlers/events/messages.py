"""Channel messages: a person's reply in a Mailroom thread becomes an email."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.context import AppContext

# Edits, deletions, joins and bot posts must never send anything.
ALLOWED_SUBTYPES = {None, "file_share", "thread_broadcast"}


def is_human_thread_reply(event: dict[str, Any]) -> bool:
    return (
        event.get("subtype") in ALLOWED_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
        and bool(event.get("thread_ts"))
        and event.get("thread_ts") != event.get("ts")
    )


def register(app: App, ctx: AppContext) -> None:
    @app.event("message")
    def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        if not is_human_thread_reply(event):
            return
        ctx.replies.handle_thread_message(event, body.get("event_id"))
