"""Slash commands: one module per command, each with a ``register(app, ctx)``."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.commands import (
    campaign,
    connect,
    consent,
    contact,
    contacts,
    dkim,
    footer,
    inbox,
    role,
    send,
    status,
    template,
    verify,
)

# campaign before contacts: its "import audience" file listener must see those files first.
MODULES = (
    connect,
    status,
    role,
    verify,
    dkim,
    consent,
    footer,
    campaign,
    contacts,
    contact,
    inbox,
    send,
    template,
)


def register(app: App, ctx: AppContext) -> None:
    for module in MODULES:
        module.register(app, ctx)
