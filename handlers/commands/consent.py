"""/mail-consent: Microsoft admin approval per tenant, with the link, steps and a message for IT."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.signin import consent_overview
from bot.context import AppContext
from handlers.common import team_of, tell, user_facing, user_of


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-consent")
    @user_facing(ctx)
    def show_consent(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, team = user_of(body), team_of(body)
        signin = ctx.need_signin()
        configured = ctx.settings.microsoft_configured
        tenants = signin.consent.overview(team, user) if configured else []
        general = (
            signin.consent.link_for(team, "organizations", user)
            if configured and not tenants
            else None
        )
        text, blocks = consent_overview(tenants, configured=configured, general_link=general)
        tell(ctx, body, text, blocks=blocks)
