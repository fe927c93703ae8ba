"""/dkim-check <domain> [selector ...]: DKIM, SPF, DMARC, MX and SES Easy DKIM (admins).

Acknowledged at once; the DNS work runs after the ack and the report arrives as an
ephemeral message.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.senders import dkim_report_message
from bot.context import AppContext
from bot.senders import Senders
from bot.senders.parsing import parse_dkim_text
from handlers.common import team_of, tell, user_facing, user_of


def register(app: App, ctx: AppContext) -> None:
    senders: Senders = ctx.need_senders()

    @app.command("/dkim-check")
    @user_facing(ctx)
    def dkim_check(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        ctx.roles.require_admin(user, "check a domain's DKIM, SPF and DMARC")
        request = parse_dkim_text(body.get("text") or "")
        result = senders.domains.check(team_of(body), user, request.domain, request.selectors)
        text, blocks = dkim_report_message(result)
        tell(ctx, body, text, blocks=blocks)
