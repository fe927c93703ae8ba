"""Mailbox settings: footers, status and visibility, partial sync and contacts, App Home."""

from __future__ import annotations

from bot.context import AppContext


def install(ctx: AppContext) -> None:
    """Register services, hooks, routes and scheduled jobs on ``ctx`` (see bot.features)."""
