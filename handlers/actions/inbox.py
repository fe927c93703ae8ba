"""Buttons of the team inbox: Undo and Send later on a held reply."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.replies import send_later_modal
from bot.context import AppContext
from bot.errors import UserError
from bot.inbox.timezones import user_timezone
from handlers.common import tell, user_facing, user_of


def _row_id(body: dict[str, Any]) -> int:
    value = body["actions"][0].get("value", "")
    if not value.isdigit():
        raise UserError("That reply is no longer available.")
    return int(value)


def register(app: App, ctx: AppContext) -> None:
    @app.action("reply_undo")
    @user_facing(ctx)
    def undo(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        # The id is untrusted: undo() changes the row only for its author, only while held.
        refusal = ctx.replies.undo(_row_id(body), user_of(body))
        if refusal:
            tell(ctx, body, refusal)

    @app.action("reply_send_later")
    @user_facing(ctx)
    def send_later(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        row_id = _row_id(body)
        zone = user_timezone(ctx, user_of(body))
        client.views_open(trigger_id=body["trigger_id"], view=send_later_modal(row_id, zone.key))
