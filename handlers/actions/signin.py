"""Sign-in clicks: the URL buttons (record the modal's choices), the channel picker sent
after a sign-in, "Finish signing in" after an approval, and /mail-consent's "Check again"."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.blocks.common import channel_link
from bot.blocks.connect import connect_modal, with_sign_in_buttons
from bot.blocks.signin import (
    CHECK_ACTION,
    PICK_CHANNEL_ACTION,
    RESUME_ACTION,
    TenantView,
    check_result_text,
    connected_blocks,
)
from bot.connect import check_channel, join_channel, view_values
from bot.context import AppContext
from handlers.commands.connect import allowed_kinds, sign_in_buttons
from handlers.common import team_of, tell, user_facing, user_of
from locales import _
from providers.errors import UserError

log = logging.getLogger(__name__)
START = re.compile(r"^signin_start_(google|microsoft)$")


def register(app: App, ctx: AppContext) -> None:
    @app.action(START)
    @user_facing(ctx)
    def sign_in_clicked(ack: Ack, body: dict[str, Any], client: Any) -> None:
        # Slack opens the URL itself; the click tells us what the modal said at that moment.
        ack()
        state = body["actions"][0].get("value", "")
        values = view_values(((body.get("view") or {}).get("state") or {}).get("values") or {})
        refusal = ctx.need_signin().record_choice(state, user_of(body), values)
        _renew_buttons(ctx, client, body)
        if refusal:
            raise UserError(
                _(
                    "{refusal} Mailroom will ask you for a channel in a message after the sign-in."
                ).format(refusal=refusal)
            )

    @app.action(PICK_CHANNEL_ACTION)
    @user_facing(ctx)
    def channel_picked(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        action = body["actions"][0]
        mailbox_id = action.get("block_id", "").rsplit("_", 1)[-1]
        mailbox = ctx.mailboxes.get(int(mailbox_id)) if mailbox_id.isdigit() else None
        if mailbox is None:
            raise UserError(
                _("That mailbox no longer exists. Connect it again with `/mail-connect`.")
            )
        ctx.lifecycle.check_can_choose_channel(user_of(body), mailbox)
        channel = action.get("selected_conversation") or ""
        if not channel:
            raise UserError(_("Choose a channel from the list."))
        refusal = check_channel(ctx, user_of(body), channel)
        if refusal:
            raise UserError(refusal)
        note = join_channel(ctx, channel)
        mailbox, refusal = ctx.lifecycle.activate_in_channel(user_of(body), mailbox, channel)
        if refusal:
            # The channel is kept; the mailbox stays inactive until what blocks it is fixed.
            tell(
                ctx,
                body,
                _("Saved {channel} for {address}, but it stays inactive: {refusal}").format(
                    channel=channel_link(channel), address=mailbox.address, refusal=refusal
                ),
            )
            return
        text, blocks = connected_blocks(mailbox, mailbox.provider, note)
        tell(ctx, body, text, blocks=blocks)

    @app.action(RESUME_ACTION)
    @user_facing(ctx)
    def resume(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = user_of(body), team_of(body)
        view = connect_modal(
            kinds=allowed_kinds(ctx, user),
            sign_in=sign_in_buttons(ctx, user, team),
            notice=_("Your IT admin approved Mailroom: sign in with Microsoft again."),
        )
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action(CHECK_ACTION)
    @user_facing(ctx)
    def check_again(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        value = body["actions"][0].get("value", "")
        consent = ctx.need_signin().consent
        row = consent.get(int(value)) if value.isdigit() else None
        if row is None or row.id is None or row.team_id != team_of(body):
            raise UserError(_("That organisation is no longer listed. Run `/mail-consent` again."))
        status = consent.check(row.id)
        label = TenantView(row_id=row.id, tenant=row.tenant, status=status, consent_link="").label
        tell(ctx, body, check_result_text(label, status))


def _renew_buttons(ctx: AppContext, client: Any, body: dict[str, Any]) -> None:
    """The pressed link opens once: the modal gets fresh buttons, so pressing again (after
    closing the browser tab, say) starts a new sign-in instead of a refused one."""
    view = body.get("view") or {}
    if not view.get("id") or not any(
        b.get("block_id") == "sign_in" for b in view.get("blocks", [])
    ):
        return
    try:
        mailbox_id = json.loads(view.get("private_metadata") or "{}").get("mailbox_id")
    except (ValueError, AttributeError):
        return
    buttons = sign_in_buttons(ctx, user_of(body), team_of(body), mailbox_id=mailbox_id)
    try:
        # With the view's hash: a newer version of the modal (a test result) is not overwritten.
        client.views_update(
            view_id=view["id"], hash=view.get("hash"), view=with_sign_in_buttons(view, buttons)
        )
    except SlackApiError as exc:
        log.info("could not renew the sign-in buttons: %s", exc.response.get("error"))
