"""Campaign buttons: send, admin confirmation, discard, pause/resume/cancel, template tools.

Every button carries a campaign id from Slack: it is checked against the clicking person
(role, the mailbox they may see, the workspace) before anything happens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App

from bot.blocks import campaigns as blocks
from bot.blocks.common import modal, section, slack_date
from bot.campaigns import sending
from bot.connect import rich_values, view_values
from bot.context import AppContext
from bot.formatting.slack_text import escape, quote_block, truncate
from handlers.common import team_of, tell, user_facing, user_of
from locales import _, format_number, ngettext
from providers.errors import UserError


def _campaign_id(body: dict[str, Any]) -> int:
    value = (body.get("actions") or [{}])[0].get("value", "")
    if not value.isdigit():
        raise UserError(_("That button is no longer valid. Run `/mail-campaign list`."))
    return int(value)


def _replace_message(ctx: AppContext, body: dict[str, Any], text: str) -> None:
    channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get(
        "id"
    )
    ts = (body.get("container") or {}).get("message_ts")
    if channel and ts:
        ctx.slack.client.chat_update(channel=channel, ts=ts, text=text, blocks=[section(text)])


def register(app: App, ctx: AppContext) -> None:
    @app.action(blocks.SEND)
    @user_facing(ctx)
    def send_now(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        campaign = sending.start(
            ctx.need_campaigns(), _campaign_id(body), team_of(body), user_of(body)
        )
        _replace_message(
            ctx,
            body,
            ngettext(
                "Campaign *{name}* started: {n} recipient. Progress is posted in <#{channel}>.",
                "Campaign *{name}* started: {n} recipients. Progress is posted in <#{channel}>.",
                campaign.total,
            ).format(
                name=escape(campaign.name),
                n=format_number(campaign.total),
                channel=campaign.channel_id,
            ),
        )

    @app.action(blocks.CONFIRM_DOMAIN)
    @user_facing(ctx)
    def confirm_domain(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        campaign = sending.confirm_domain(ctx, _campaign_id(body), team_of(body), user)
        campaign = sending.start(ctx.need_campaigns(), campaign.id, team_of(body), user)  # type: ignore[arg-type]
        _replace_message(
            ctx,
            body,
            ngettext(
                "<@{user}> confirmed sending from {domain} although it fails its checks. "
                "Campaign *{name}* started: {n} recipient.",
                "<@{user}> confirmed sending from {domain} although it fails its checks. "
                "Campaign *{name}* started: {n} recipients.",
                campaign.total,
            ).format(
                user=user,
                domain=escape(campaign.domain),
                name=escape(campaign.name),
                n=format_number(campaign.total),
            ),
        )

    @app.action(blocks.HOME_NEW)
    @user_facing(ctx)
    def home_new(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        from handlers.commands.campaign import open_campaign_modal

        ctx.roles.require_campaigns(user_of(body))
        open_campaign_modal(ctx, client, body, user_of(body), team_of(body))

    @app.action(blocks.HOME_TEMPLATE)
    @user_facing(ctx)
    def home_template(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        from handlers.commands.campaign import open_template_modal

        ctx.roles.require_campaigns(user_of(body))
        open_template_modal(ctx, client, body, team_of(body), None)

    @app.action(blocks.SCHEDULE_AT)
    def pick_time(ack: Ack) -> None:
        ack()  # the chosen time is read from the message's state when Schedule is pressed

    @app.action(blocks.SCHEDULE)
    @user_facing(ctx)
    def schedule(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        when = _picked_time(body)
        campaign = sending.schedule(ctx, _campaign_id(body), team_of(body), user_of(body), when)
        _replace_message(
            ctx,
            body,
            _(
                "Campaign *{name}* is scheduled for {when}. Recipients are counted (without "
                "unsubscribed addresses) when it starts; `/mail-campaign list` shows it, and "
                "`/mail-campaign cancel <number>` cancels it."
            ).format(name=escape(campaign.name), when=slack_date(when)),
        )

    @app.action(blocks.DISCARD)
    @user_facing(ctx)
    def discard(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        sending.discard(ctx, _campaign_id(body), team_of(body), user_of(body))
        _replace_message(ctx, body, _("Campaign discarded; nothing was sent."))

    for action_id, verb in (
        (blocks.PAUSE, "pause"),
        (blocks.RESUME, "resume"),
        (blocks.CANCEL, "cancel"),
    ):
        app.action(action_id)(user_facing(ctx)(_control(ctx, verb)))

    @app.action(blocks.PREVIEW)
    @user_facing(ctx)
    def preview(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = user_of(body), team_of(body)
        values = view_values(body["view"]["state"]["values"])
        rich = rich_values(body["view"]["state"]["values"]).get("body")
        mailbox = next(iter(sending.campaign_mailboxes(ctx, user, team)), None)
        try:
            rendered, sample = sending.preview(
                ctx, team, user, values.get("subject", ""), values.get("body", ""), mailbox, rich
            )
        except sending.templates.TemplateErrors as exc:
            text = _("Fix the template first: {errors}").format(
                errors=" ".join(exc.errors.values())
            )
            client.views_push(
                trigger_id=body["trigger_id"],
                view=modal(
                    _("Preview"),
                    [section(escape(text))],
                    callback_id="campaign_preview",
                    submit=None,
                    close=_("Back"),
                ),
            )
            return
        who = escape(sample.get("email", "")) or _("no recipient yet (defaults shown)")
        parts = [
            section(
                _("*To:* {to}\n*Subject:* {subject}").format(
                    to=who, subject=escape(rendered.subject)
                )
            ),
            section(quote_block(escape(truncate(rendered.text, 2800)))),
        ]
        client.views_push(
            trigger_id=body["trigger_id"],
            view=modal(
                _("Preview"), parts, callback_id="campaign_preview", submit=None, close=_("Back")
            ),
        )

    @app.action(blocks.TEST)
    @user_facing(ctx)
    def send_test(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        values = view_values(body["view"]["state"]["values"])
        rich = rich_values(body["view"]["state"]["values"]).get("body")
        try:
            address = sending.send_test(
                ctx,
                team_of(body),
                user_of(body),
                values.get("subject", ""),
                values.get("body", ""),
                rich,
            )
        except sending.templates.TemplateErrors as exc:
            raise UserError(
                _("Fix the template first: {errors}").format(errors=" ".join(exc.errors.values()))
            ) from None
        tell(ctx, body, _("Test sent to {address}.").format(address=escape(address)))


def _picked_time(body: dict[str, Any]) -> datetime:
    for block in ((body.get("state") or {}).get("values") or {}).values():
        element = block.get(blocks.SCHEDULE_AT) or {}
        value = element.get("selected_date_time")
        if isinstance(value, int | float) and value > 0:
            return datetime.fromtimestamp(value, UTC)
    raise UserError(_("Pick a date and time next to Schedule first, then press Schedule."))


def _control(ctx: AppContext, verb: str) -> Any:
    def control(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        campaign = sending.set_state(
            ctx.need_campaigns(), _campaign_id(body), team_of(body), user_of(body), verb
        )
        done = {
            "pause": _("Campaign *{name}* paused."),
            "resume": _("Campaign *{name}* resumed."),
            "cancel": _("Campaign *{name}* cancelled."),
        }[verb]
        tell(ctx, body, done.format(name=escape(campaign.name)))

    control.__name__ = f"campaign_{verb}"
    return control
