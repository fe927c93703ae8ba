"""/mail-footer [mailbox address | default]: open the footer editor at once (3-second trigger)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.footer import footer_modal
from bot.context import AppContext
from bot.preferences import footers
from handlers.common import user_facing
from locales import _
from providers.errors import UserError


def open_footer_editor(
    ctx: AppContext,
    client: Any,
    trigger_id: str,
    user: str,
    team: str,
    *,
    wanted: str = "",
    channel: str = "",
) -> None:
    """Open the editor on the footer named by ``wanted`` (an address, ``default`` or a
    mailbox id), else the footer of the channel's mailbox, else the person's first one."""
    targets = footers.footer_targets(ctx, user, team)
    if not targets:
        raise UserError(
            _(
                "You have no footer to edit: connect your personal mailbox with "
                "`/mail-connect` first (admins edit shared and marketing footers)."
            )
        )
    target = _pick(ctx, targets, wanted.strip().lower(), channel)
    mailbox = footers.target_mailbox(ctx, user, target)
    stored = footers.load_footer(
        ctx, mailbox.team_id if mailbox else team, mailbox.id if mailbox else None
    )
    view = footer_modal(
        targets=targets,
        target=target,
        tags=footers.TAGS,
        values=footers.form_values(footers.FooterForm.from_row(stored)),
    )
    client.views_open(trigger_id=trigger_id, view=view)


def _pick(ctx: AppContext, targets: list[tuple[str, str]], wanted: str, channel: str) -> str:
    values = [value for _label, value in targets]
    if wanted:
        for label, value in targets:
            if wanted in (value, label.split(" ")[0].lower()):
                return value
        raise UserError(
            _(
                "{wanted} is not a footer you can edit. Run `/mail-footer` alone to pick from yours."
            ).format(wanted=wanted)
        )
    for mailbox in ctx.mailboxes.by_channel(channel) if channel else []:
        if str(mailbox.id) in values:
            return str(mailbox.id)
    mailbox_targets = [v for v in values if v != footers.DEFAULT_TARGET]
    return mailbox_targets[0] if len(mailbox_targets) == 1 else values[0]


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-footer")
    @user_facing(ctx)
    def open_footer(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        open_footer_editor(
            ctx,
            client,
            body["trigger_id"],
            body["user_id"],
            body.get("team_id", ""),
            wanted=body.get("text", ""),
            channel=body.get("channel_id", ""),
        )
