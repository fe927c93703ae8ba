"""Events API listeners: one module per area, each with a ``register(app, ctx)``."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.events import home, messages, people

MODULES: tuple = (messages, home, people)


def register(app: App, ctx: AppContext) -> None:
    for module in MODULES:
        module.register(app, ctx)
