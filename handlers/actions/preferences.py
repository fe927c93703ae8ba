"""Buttons of App Home and of the footer editor."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.connect import connect_modal
from bot.blocks.footer import PREVIEW_ACTION, TARGET_ACTION, TEST_ACTION, footer_modal
from bot.connect import view_values
from bot.context import AppContext
from bot.formatting.slack_text import escape
from bot.preferences import footers
from handlers.commands.connect import allowed_kinds, sign_in_buttons
from handlers.commands.footer import open_footer_editor
from handlers.common import team_of, user_facing, user_of
from locales import _
from providers.errors import MailroomError, UserError
from storage.models import Mailbox


def _mailbox(ctx: AppContext, body: dict[str, Any]) -> Mailbox:
    value = body["actions"][0].get("value", "")
    mailbox = ctx.mailboxes.get(int(value)) if value.isdigit() else None
    if mailbox is None:
        raise UserError(
            _("That mailbox no longer exists. Open App Home again to see the current list.")
        )
    return mailbox


def _editor_state(
    ctx: AppContext, body: dict[str, Any]
) -> tuple[str, Mailbox | None, dict[str, str]]:
    """(target, its mailbox, the fields as currently typed) of the open footer editor."""
    view = body["view"]
    target = str(json.loads(view.get("private_metadata") or "{}").get("target", ""))
    mailbox = footers.target_mailbox(ctx, user_of(body), target)
    values = view_values(view.get("state", {}).get("values", {}))
    return target, mailbox, values


def _redraw(
    ctx: AppContext,
    client: Any,
    body: dict[str, Any],
    target: str,
    values: dict[str, str],
    **extra: Any,
) -> None:
    view = footer_modal(
        targets=footers.footer_targets(ctx, user_of(body), team_of(body)),
        target=target,
        values=values,
        tags=footers.TAGS,
        **extra,
    )
    client.views_update(view_id=body["view"]["id"], view=view)


def register(app: App, ctx: AppContext) -> None:
    # --- App Home ---------------------------------------------------------------------------

    @app.action("home_connect")
    @user_facing(ctx)
    def home_connect(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = user_of(body), team_of(body)
        client.views_open(
            trigger_id=body["trigger_id"],
            view=connect_modal(
                kinds=allowed_kinds(ctx, user), sign_in=sign_in_buttons(ctx, user, team)
            ),
        )

    @app.action("home_edit_footer")
    @user_facing(ctx)
    def home_edit_footer(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        open_footer_editor(
            ctx,
            client,
            body["trigger_id"],
            user_of(body),
            team_of(body),
            wanted=body["actions"][0].get("value", ""),
        )

    @app.action("home_toggle_visible")
    @user_facing(ctx)
    def home_toggle_visible(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        mailbox = _mailbox(ctx, body)
        ctx.lifecycle.set_visible(user_of(body), mailbox, not mailbox.visible)

    @app.action("home_sync_mode")
    @user_facing(ctx)
    def home_sync_mode(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        mailbox = _mailbox(ctx, body)
        mode = "full" if mailbox.sync_mode == "partial" else "partial"
        # App Home refreshes on the lifecycle's mailbox_changed.
        ctx.lifecycle.set_sync_mode(user_of(body), mailbox, mode)

    # --- Footer editor ----------------------------------------------------------------------

    @app.action(TARGET_ACTION)
    @user_facing(ctx)
    def footer_target(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        target = (body["actions"][0].get("selected_option") or {}).get("value", "")
        mailbox = footers.target_mailbox(ctx, user_of(body), target)
        stored = footers.load_footer(
            ctx, mailbox.team_id if mailbox else team_of(body), mailbox.id if mailbox else None
        )
        _redraw(ctx, client, body, target, footers.form_values(footers.FooterForm.from_row(stored)))

    @app.action(PREVIEW_ACTION)
    @user_facing(ctx)
    def footer_preview(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        target, mailbox, values = _editor_state(ctx, body)
        try:
            form = footers.parse_footer_form(values)
        except footers.FooterErrors as exc:
            _redraw(ctx, client, body, target, values, preview=("", list(exc.errors.values())))
            return
        tags = footers.sample_tags(ctx, user_of(body), team_of(body), mailbox)
        rendered = footers.render_footer(form, tags)
        _redraw(ctx, client, body, target, values, preview=(rendered.text, []))

    @app.action(TEST_ACTION)
    @user_facing(ctx)
    def footer_test(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = user_of(body), team_of(body)
        target, mailbox, values = _editor_state(ctx, body)
        try:
            form = footers.parse_footer_form(values)
        except footers.FooterErrors as exc:
            _redraw(ctx, client, body, target, values, preview=("", list(exc.errors.values())))
            return
        try:
            sender = footers.test_sender(ctx, user, team, mailbox)
            address = footers.send_test(ctx, sender, form, user)
            notice = ":white_check_mark: " + _(
                "Test sent to {address} from {sender}. Nothing is saved until you press Save."
            ).format(address=escape(address), sender=escape(sender.address))
        except MailroomError as exc:
            notice = ":x: " + _("The test was not sent. {reason}").format(
                reason=escape(exc.message)
            )
        _redraw(ctx, client, body, target, values, notice=notice)
