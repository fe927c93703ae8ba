"""/mail-status: the mailboxes this person may see, with Sync now / Pause buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.context import AppContext
from bot.status import build_status
from handlers.common import tell, user_facing


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-status")
    @user_facing(ctx)
    def show_status(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        text, blocks = build_status(
            ctx, body["user_id"], body.get("team_id", ""), str(body.get("channel_id") or "")
        )
        tell(ctx, body, text, blocks=blocks)
