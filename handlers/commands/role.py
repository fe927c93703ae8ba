"""/mail-role @user sales|marketing|admin|none (admins only)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.context import AppContext
from handlers.common import tell, user_facing
from locales import _
from providers.errors import UserError
from storage.models import Role

MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def parse_role_command(text: str) -> tuple[str, Role]:
    match = MENTION.search(text or "")
    words = MENTION.sub(" ", text or "").split()
    if not match or len(words) != 1 or words[0].lower() not in Role._value2member_map_:
        raise UserError(
            _(
                "I could not read that. Use `/mail-role @person sales`, `/mail-role @person "
                "marketing`, `/mail-role @person admin` or `/mail-role @person none`."
            )
        )
    return match.group(1), Role(words[0].lower())


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-role")
    @user_facing(ctx)
    def set_role(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        actor = body["user_id"]
        ctx.roles.require_admin(actor, "grant or revoke roles")
        target, role = parse_role_command(body.get("text", ""))
        ctx.roles.grant(target, role, body.get("team_id", ""))
        effective = ctx.roles.role_of(target)
        if effective != role:
            text = _(
                "<@{user}> now has the {role} role in Mailroom. They stay {effective} because "
                "they are a workspace admin or listed in MAILROOM_ADMINS."
            ).format(user=target, role=role, effective=effective)
        else:
            text = _("<@{user}> now has the {role} role in Mailroom.").format(
                user=target, role=role
            )
        tell(ctx, body, text)
