"""/mail-connect: open the connect modal at once (the trigger id lives 3 seconds)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.connect import connect_modal
from bot.context import AppContext
from handlers.common import user_facing
from storage.models import MailboxKind


def allowed_kinds(ctx: AppContext, user_id: str) -> list[str]:
    if ctx.roles.is_admin(user_id):
        return [MailboxKind.PERSONAL, MailboxKind.SHARED, MailboxKind.MARKETING]
    return [MailboxKind.PERSONAL]


def sign_in_buttons(
    ctx: AppContext,
    user_id: str,
    team_id: str,
    kind: str = MailboxKind.PERSONAL,
    mailbox_id: int | None = None,
) -> list[dict[str, Any]]:
    make = ctx.sign_in_buttons
    return make(user_id, team_id, kind, mailbox_id) if make else []


def sign_in_note(ctx: AppContext) -> str:
    """Which sign-in providers this server lacks settings for (empty when all are set)."""
    make = ctx.sign_in_note
    return make() if make else ""


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-connect")
    @user_facing(ctx)
    def open_connect(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = body["user_id"], body.get("team_id", "")
        view = connect_modal(
            kinds=allowed_kinds(ctx, user),
            sign_in=sign_in_buttons(ctx, user, team),
            sign_in_note=sign_in_note(ctx),
        )
        client.views_open(trigger_id=body["trigger_id"], view=view)
