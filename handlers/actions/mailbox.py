"""Mailbox buttons: Sync now, Pause/Activate, Reconnect, Remove."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.connect import connect_modal, form_values_from_mailbox
from bot.blocks.status import REMOVE
from bot.context import AppContext
from bot.formatting.slack_text import escape
from handlers.commands.connect import allowed_kinds, sign_in_buttons
from handlers.common import tell, user_facing, user_of
from locales import _
from providers.errors import UserError
from storage.models import Mailbox, Provider


def _mailbox(ctx: AppContext, body: dict[str, Any]) -> Mailbox:
    value = body["actions"][0].get("value", "")
    mailbox = ctx.mailboxes.get(int(value)) if value.isdigit() else None
    if mailbox is None:
        raise UserError(
            _("That mailbox no longer exists. Run `/mail-status` to see the current list.")
        )
    return mailbox


def register(app: App, ctx: AppContext) -> None:
    @app.action("mailbox_sync_now")
    @user_facing(ctx)
    def sync_now(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        mailbox = _mailbox(ctx, body)
        if not ctx.roles.can_see(user_of(body), mailbox):
            raise UserError(_("You cannot see this mailbox, so you cannot sync it."))
        if not mailbox.active:
            raise UserError(
                _("{address} is paused. Activate it first, then sync.").format(
                    address=mailbox.address
                )
            )
        ctx.sync.sync_now(mailbox.id)  # type: ignore[arg-type]
        tell(
            ctx,
            body,
            _("Syncing {address} now. New mail will appear in its channel.").format(
                address=mailbox.address
            ),
        )

    @app.action("mailbox_toggle_active")
    @user_facing(ctx)
    def toggle_active(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        mailbox = _mailbox(ctx, body)
        activate = not mailbox.active
        ctx.lifecycle.set_active(user_of(body), mailbox, activate)
        if activate:
            tell(
                ctx,
                body,
                _("{address} is active again: it syncs and sends replies.").format(
                    address=mailbox.address
                ),
            )
        else:
            tell(
                ctx,
                body,
                _("{address} is paused: it neither syncs nor sends until activated.").format(
                    address=mailbox.address
                ),
            )

    @app.action("mailbox_reconnect")
    @user_facing(ctx)
    def reconnect(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        mailbox = _mailbox(ctx, body)
        user = user_of(body)
        ctx.lifecycle.check_can_reconnect(user, mailbox)
        team = mailbox.team_id
        sign_in = sign_in_buttons(ctx, user, team, mailbox.kind, mailbox.id)
        if mailbox.provider != Provider.IMAP and sign_in:
            view = connect_modal(
                kinds=[mailbox.kind],
                values=form_values_from_mailbox(mailbox),
                mailbox_id=mailbox.id,
                sign_in=sign_in,
                notice=_("Sign in again to reconnect *{address}*.").format(address=mailbox.address),
            )
        else:
            view = connect_modal(
                kinds=allowed_kinds(ctx, user),
                values=form_values_from_mailbox(mailbox),
                mailbox_id=mailbox.id,
                sign_in=sign_in,
            )
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action(REMOVE)
    @user_facing(ctx)
    def remove(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        mailbox = ctx.lifecycle.remove(user_of(body), _mailbox(ctx, body))
        tell(
            ctx,
            body,
            _(
                "{address} was removed from Mailroom: it no longer syncs, and its password and "
                "tokens are deleted. Its threads stay in Slack."
            ).format(address=escape(mailbox.address)),
        )
