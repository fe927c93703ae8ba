"""App Home: published again whenever someone opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.context import AppContext
from bot.status import publish_home


def register(app: App, ctx: AppContext) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        publish_home(ctx, event["user"], body.get("team_id", ""))
