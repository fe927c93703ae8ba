"""The footer editor's Save: validate every field, store, tell the person."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.footer import CALLBACK, footer_saved_text
from bot.connect import view_values
from bot.context import AppContext
from bot.preferences import footers
from bot.preferences.panel import mailbox_changed
from handlers.common import team_of
from providers.errors import MailroomError


def register(app: App, ctx: AppContext) -> None:
    @app.view(CALLBACK)
    def save_footer(ack: Ack, body: dict[str, Any]) -> None:
        user, team = body["user"]["id"], team_of(body)
        view = body["view"]
        target = json.loads(view.get("private_metadata") or "{}").get("target", "")
        try:
            mailbox = footers.target_mailbox(ctx, user, str(target))
        except MailroomError as exc:
            ack(response_action="errors", errors={"text": exc.message})
            return
        try:
            form = footers.parse_footer_form(view_values(view["state"]["values"]))
        except footers.FooterErrors as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        ack()  # closes the modal: saved
        footers.save_footer(
            ctx, mailbox.team_id if mailbox else team, mailbox.id if mailbox else None, form, user
        )
        ctx.slack.dm(user, footer_saved_text(mailbox.address if mailbox else None))
        if mailbox is not None:
            mailbox_changed(ctx, mailbox.id)  # type: ignore[arg-type]
