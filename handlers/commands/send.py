"""/mail-send and the "New email" global shortcut: the compose modal."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.inbox import compose_modal
from bot.context import AppContext
from bot.inbox.compose import sendable_mailboxes
from handlers.common import team_of, user_facing, user_of
from locales import _
from providers.errors import UserError


def open_compose(ctx: AppContext, body: dict[str, Any], client: Any) -> None:
    mailboxes = sendable_mailboxes(ctx, user_of(body), team_of(body))
    if not mailboxes:
        raise UserError(
            _(
                "You have no mailbox to send from: connect your own with `/mail-connect`, or ask "
                "an admin for the sales role (`/mail-role`) to send from a shared mailbox."
            )
        )
    options = [(m.address, str(m.id)) for m in mailboxes]
    client.views_open(
        trigger_id=body["trigger_id"],
        view=compose_modal(options, max(1, min(10, ctx.settings.attachment_max_count))),
    )


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-send")
    @user_facing(ctx)
    def mail_send(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        open_compose(ctx, body, client)

    @app.shortcut("mail_send")
    @user_facing(ctx)
    def mail_send_shortcut(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        open_compose(ctx, body, client)
