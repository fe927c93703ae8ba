"""Buttons on email posts and reply notices: Show full email, Try again."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.email import full_email_modal
from bot.context import AppContext
from bot.email_access import readable_email
from handlers.common import tell, user_facing, user_of
from locales import _
from providers.errors import UserError


def register(app: App, ctx: AppContext) -> None:
    @app.action("email_show_full")
    @user_facing(ctx)
    def show_full(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        # The value is untrusted: readable_email checks Mailroom made it and who asks.
        row = readable_email(ctx, body["actions"][0].get("value", ""), user_of(body))
        sender = f"{row.from_name} <{row.from_address}>" if row.from_name else row.from_address
        client.views_open(
            trigger_id=body["trigger_id"],
            view=full_email_modal(row.subject, sender, row.body_text or ""),
        )

    @app.action("reply_retry")
    @user_facing(ctx)
    def retry(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        value = body["actions"][0].get("value", "")
        if not value.isdigit():
            raise UserError(_("That reply is no longer available."))
        refusal = ctx.replies.retry(int(value), user_of(body))
        if refusal:
            tell(ctx, body, refusal)
