"""/mail-inbox: the open threads assigned to you and the unassigned ones."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.inbox import waiting_list_blocks
from bot.context import AppContext
from bot.inbox.waiting import waiting_for
from handlers.common import team_of, tell, user_facing, user_of


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-inbox")
    @user_facing(ctx)
    def mail_inbox(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        text, blocks = waiting_list_blocks(waiting_for(ctx, user, team_of(body)), user)
        tell(ctx, body, text, blocks=blocks)
