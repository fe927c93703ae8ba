"""/mail-status: the mailboxes this person may see, with Sync now / Pause buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.status import status_message
from bot.context import AppContext
from handlers.common import tell, user_facing

# Features add lines about a mailbox (verification state, consent...) and about the
# workspace (domain verdicts) through ctx.status_lines / ["status_footer"].


def build_status(ctx: AppContext, user_id: str, team_id: str) -> tuple[str, list[dict[str, Any]]]:
    rows = []
    for mailbox in ctx.mailboxes.all(team_id or None):
        if not ctx.roles.can_see(user_id, mailbox):
            continue
        extra: list[str] = []
        for mailbox_lines in ctx.status_lines:
            extra += mailbox_lines(ctx, mailbox)
        rows.append((mailbox, ctx.roles.can_manage(user_id, mailbox), extra))
    footer: list[str] = []
    if ctx.roles.is_admin(user_id):
        for footer_lines in ctx.status_footer:
            footer += footer_lines(ctx, team_id)
    return status_message(rows, footer)


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-status")
    @user_facing(ctx)
    def show_status(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        text, blocks = build_status(ctx, body["user_id"], body.get("team_id", ""))
        tell(ctx, body, text, blocks=blocks)
