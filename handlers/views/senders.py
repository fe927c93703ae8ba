"""Views listeners for bot.senders (filled in with that feature)."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext


def register(app: App, ctx: AppContext) -> None:
    """No listeners yet."""
