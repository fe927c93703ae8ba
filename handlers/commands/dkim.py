"""/dkim-check: domain DKIM, SPF, DMARC and MX checks (arrives with its own issue)."""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext
from handlers.common import not_available_yet


def register(app: App, ctx: AppContext) -> None:
    app.command("/dkim-check")(not_available_yet(ctx, "/dkim-check", "domain DKIM, SPF, DMARC and MX checks"))
