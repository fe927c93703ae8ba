"""Channel messages: a person's reply in a Mailroom thread becomes an email."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext

from bot.context import AppContext

# Edits, deletions, joins and bot posts must never send anything.
ALLOWED_SUBTYPES = {None, "file_share", "thread_broadcast"}
INBOX_KEY = "reply_inbox_id"


def is_human_thread_reply(event: dict[str, Any]) -> bool:
    return (
        event.get("subtype") in ALLOWED_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
        and bool(event.get("thread_ts"))
        and event.get("thread_ts") != event.get("ts")
    )


def register(app: App, ctx: AppContext) -> None:
    def store_before_ack(
        event: dict[str, Any], body: dict[str, Any], context: BoltContext, next: Callable[[], None]
    ) -> None:
        # Listener middleware runs before Bolt acknowledges the event (over HTTP and Socket
        # Mode alike), so the reply is durable before Slack stops retrying. If storing
        # fails, the exception makes Bolt answer 500 and Slack delivers the event again.
        if is_human_thread_reply(event):
            context[INBOX_KEY] = ctx.replies.receive(event, body.get("event_id"))
        next()

    @app.event("message", middleware=[store_before_ack])
    def on_message(context: BoltContext) -> None:
        # After the ack, in Bolt's worker thread: the slow part (SMTP) never delays Slack.
        # Handled here, or by the worker that holds the mailbox (bot.jobs).
        inbox_id = context.get(INBOX_KEY)
        if inbox_id is not None:
            ctx.replies.reply_received(inbox_id)
