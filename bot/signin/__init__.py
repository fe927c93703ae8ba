"""Google and Microsoft sign-in, token lifecycle, Microsoft admin consent."""

from __future__ import annotations

from bot.context import AppContext


def install(ctx: AppContext) -> None:
    """Register services, hooks, routes and scheduled jobs on ``ctx`` (see bot.features)."""
