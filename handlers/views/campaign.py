"""The New campaign and Campaign template modals."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.campaigns import CAMPAIGN_VIEW, TEMPLATE_VIEW, confirmation
from bot.campaigns import audiences, sending, templates
from bot.connect import rich_values, view_values
from bot.context import AppContext
from bot.formatting.slack_text import escape
from locales import _
from providers.errors import MailroomError

log = logging.getLogger(__name__)


def _int(value: str) -> int:
    return int(value) if value.isdigit() else 0


def register(app: App, ctx: AppContext) -> None:
    @app.view(TEMPLATE_VIEW)
    def save_template(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, team = (
            body["user"]["id"],
            body.get("team", {}).get("id", "") or body["user"].get("team_id", ""),
        )
        values = view_values(view["state"]["values"])
        rich = rich_values(view["state"]["values"]).get("body")
        metadata = json.loads(view.get("private_metadata") or "{}")
        try:
            ctx.roles.require_campaigns(user)
            name, subject, text = (
                values.get("name", ""),
                values.get("subject", ""),
                values.get("body", ""),
            )
            body_rich = None
            if rich is not None:
                text, body_rich = templates.rich_body(rich)
            templates.validate_template(name, subject, text, audiences.known_fields(ctx, team))
            row = templates.save_template(
                ctx, team, metadata.get("template_id"), name, subject, text, user, body_rich
            )
        except templates.TemplateErrors as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        except MailroomError as exc:
            ack(response_action="errors", errors={"name": exc.message})
            return
        ack()
        ctx.slack.dm(
            user,
            _("Template *{name}* saved. Use it with `/mail-campaign`.").format(
                name=escape(row.name)
            ),
        )

    @app.view(CAMPAIGN_VIEW)
    def choose_campaign(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, team = (
            body["user"]["id"],
            body.get("team", {}).get("id", "") or body["user"].get("team_id", ""),
        )
        values = view_values(view["state"]["values"])
        # Answer Slack first: the domain check asks DNS and may take a few seconds.
        ack()
        try:
            prepared = sending.prepare(
                ctx.need_campaigns(),
                team,
                user,
                _int(values.get("mailbox", "")),
                _int(values.get("audience", "")),
                _int(values.get("template", "")),
                track_clicks="clicks" in values.get("tracking", "").split(","),
            )
            mailbox = ctx.mailboxes.get(prepared.campaign.mailbox_id)
            warning = ""
            seconds = prepared.limits.seconds_for(prepared.recipients)
            per_day = prepared.limits.per_day
            if (per_day and prepared.recipients > per_day) or seconds > 86400:
                warning = _(
                    "At {limits} this campaign cannot finish within a day; it continues where "
                    "it stopped as the limits allow."
                ).format(limits=prepared.limits.describe())
            text, blocks = confirmation(
                prepared.campaign,
                mailbox.address if mailbox else "",
                prepared.recipients,
                prepared.suppressed,
                prepared.limits.describe(),
                prepared.domain_lines,
                warning,
            )
            ctx.slack.dm(user, text, blocks=blocks)
        except MailroomError as exc:
            ctx.slack.dm(user, escape(exc.message))
        except Exception:
            log.exception("preparing a campaign failed")
            ctx.slack.dm(
                user,
                _(
                    "Mailroom could not prepare that campaign because of an error on its side. "
                    "Try again in a minute."
                ),
            )
