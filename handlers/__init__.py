"""Slack listeners, one package per listener type (Bolt's starter layout)."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers import actions, commands, events, options, views


def register_listeners(app: App, ctx: AppContext) -> None:
    commands.register(app, ctx)
    actions.register(app, ctx)
    views.register(app, ctx)
    events.register(app, ctx)
    options.register(app, ctx)
