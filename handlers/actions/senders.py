"""Buttons of /mail-verify and /dkim-check: Send again, Send through SES/SMTP, Check again,
Set up DKIM with SES, Watch / Stop watching, and App Home's "Check DKIM"."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.senders import (
    CHECK_AGAIN,
    HOME_CHECK,
    SEND_AGAIN,
    SEND_VIA,
    SETUP_SES,
    UNWATCH,
    WATCH,
    dkim_report_message,
    parse_check_value,
    send_via_changed,
    verify_answer,
    watch_started,
)
from bot.context import AppContext
from bot.senders import Senders
from bot.senders.domains import WATCH_INTERVAL
from bot.senders.parsing import DkimRequest, parse_dkim_text
from handlers.common import team_of, tell, user_facing, user_of
from locales import _
from providers.errors import UserError


def value_of(body: dict[str, Any]) -> str:
    return str(body["actions"][0].get("value") or "")


def check_request(value: str) -> DkimRequest:
    """A button's "domain selector..." value, validated like the slash command's text."""
    domain, selectors = parse_check_value(value)
    return parse_dkim_text(" ".join([domain, *selectors]))


def register(app: App, ctx: AppContext) -> None:
    senders: Senders = ctx.need_senders()

    # "Check again" on a report and "Check DKIM" on App Home do the same thing.
    @app.action(CHECK_AGAIN)
    @app.action(HOME_CHECK)
    @user_facing(ctx)
    def check_again(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        ctx.roles.require_admin(user, "check a domain's DKIM, SPF and DMARC")
        request = check_request(value_of(body))
        result = senders.domains.check(team_of(body), user, request.domain, request.selectors)
        text, blocks = dkim_report_message(result)
        tell(ctx, body, text, blocks=blocks)

    @app.action(SETUP_SES)
    @user_facing(ctx)
    def setup_ses(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        ctx.roles.require_admin(user, "set up DKIM with Amazon SES")
        domain = parse_dkim_text(value_of(body)).domain
        result = senders.domains.setup_ses(team_of(body), user, domain)
        text, blocks = dkim_report_message(result)
        tell(ctx, body, text, blocks=blocks)

    @app.action(WATCH)
    @user_facing(ctx)
    def watch(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        ctx.roles.require_admin(user, "watch a domain")
        request = check_request(value_of(body))
        row = senders.domains.watch(team_of(body), user, request.domain, request.selectors)
        tell(ctx, body, watch_started(row.domain, row.last_verdict, WATCH_INTERVAL))

    @app.action(UNWATCH)
    @user_facing(ctx)
    def unwatch(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        ctx.roles.require_admin(user, "stop watching a domain")
        domain = parse_dkim_text(value_of(body)).domain
        if senders.domains.unwatch(team_of(body), domain):
            tell(ctx, body, _("Mailroom no longer watches {domain}.").format(domain=domain))
        else:
            tell(ctx, body, _("{domain} was not being watched.").format(domain=domain))

    @app.action(SEND_AGAIN)
    @user_facing(ctx)
    def send_again(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        ctx.roles.require_admin(user, "verify sender addresses")
        answer = senders.verifications.start(team_of(body), user, value_of(body))
        text, blocks = verify_answer(answer)
        tell(ctx, body, text, blocks=blocks)

    @app.action(SEND_VIA)
    @user_facing(ctx)
    def send_via(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        mailbox_id, _sep, via = value_of(body).partition(":")
        if not mailbox_id.isdigit():
            raise UserError(
                _("That button is out of date. Run `/mail-status` to see the mailboxes.")
            )
        mailbox = senders.verifications.set_send_via(user_of(body), int(mailbox_id), via)
        verified = senders.verifications.stored_verified(mailbox.team_id, mailbox.address)
        tell(ctx, body, send_via_changed(mailbox, verified=verified))
