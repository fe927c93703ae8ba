"""App Home: refreshed when opened (the full panel arrives with mailbox settings)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.context import AppContext
from handlers.commands.status import build_status


def publish_home(ctx: AppContext, user_id: str, team_id: str) -> None:
    builder = ctx.home_view
    if builder is not None:
        view = builder(ctx, user_id, team_id)
    else:
        _, blocks = build_status(ctx, user_id, team_id)
        view = {"type": "home", "blocks": blocks}
    ctx.slack.client.views_publish(user_id=user_id, view=view)


def register(app: App, ctx: AppContext) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        publish_home(ctx, event["user"], body.get("team_id", ""))
