"""Modal submissions: one module per modal, each with a ``register(app, ctx)``."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.views import campaign, connect, inbox, preferences, senders, signin

MODULES: tuple = (connect, senders, signin, preferences, campaign, inbox)


def register(app: App, ctx: AppContext) -> None:
    for module in MODULES:
        module.register(app, ctx)
