"""Suggestions for external selects (Slack's block_suggestion requests): one module per
select family, each with a ``register(app, ctx)``."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.options import compose

MODULES: tuple = (compose,)


def register(app: App, ctx: AppContext) -> None:
    for module in MODULES:
        module.register(app, ctx)
