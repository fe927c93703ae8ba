"""/mail-contact <address or @domain>: recent activity with a contact, with thread links."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.contacts import activity_message
from bot.context import AppContext
from bot.preferences import contacts
from bot.roles import mailboxes_for
from handlers.commands.contacts import command_values
from handlers.common import tell, user_facing
from locales import _
from providers.errors import UserError


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-contact")
    @user_facing(ctx)
    def mail_contact(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        words = command_values((body.get("text") or "").split())
        pattern = contacts.normalise_pattern(words[0]) if len(words) == 1 else None
        if pattern is None:
            raise UserError(
                _(
                    "Use `/mail-contact ana@customer.com` (or `@customer.com` for a whole "
                    "company) to see recent mail with them."
                )
            )
        visible = mailboxes_for(
            ctx.roles, ctx.mailboxes, body["user_id"], body.get("team_id", ""), manage=False
        )
        items = contacts.recent_activity(ctx, pattern, [m.id for m in visible])  # type: ignore[misc]
        text, blocks = activity_message(pattern, items)
        tell(ctx, body, text, blocks=blocks)
