"""A person's profile changed (their language, perhaps): forget what is cached about it."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.context import AppContext


def register(app: App, ctx: AppContext) -> None:
    @app.event("user_change")
    def on_user_change(event: dict[str, Any]) -> None:
        user_id = (event.get("user") or {}).get("id")
        if user_id:
            ctx.languages.forget(str(user_id))
