"""Button and menu actions: one module per area, each with a ``register(app, ctx)``."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.actions import (
    campaign,
    email,
    inbox,
    languages,
    mail_retry,
    mailbox,
    preferences,
    senders,
    signin,
)

MODULES: tuple = (
    mailbox,
    email,
    mail_retry,
    senders,
    signin,
    preferences,
    campaign,
    inbox,
    languages,
)


def register(app: App, ctx: AppContext) -> None:
    for module in MODULES:
        module.register(app, ctx)
