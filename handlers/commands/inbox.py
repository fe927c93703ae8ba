"""/mail-inbox: the open threads assigned to you and the unassigned ones;
``/mail-inbox reminder <mailbox> <hours>|off [time zone] [days]`` sets a mailbox's reminder."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.inbox import waiting_list_blocks
from bot.context import AppContext
from bot.inbox.reminders import days_text, parse_days, save_reminder
from bot.inbox.waiting import waiting_for
from handlers.common import team_of, tell, user_facing, user_of
from locales import N_, _
from providers.errors import UserError
from storage.models import Mailbox


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-inbox")
    @user_facing(ctx)
    def mail_inbox(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        words = (body.get("text") or "").split()
        if words and words[0].lower() == "reminder":
            tell(ctx, body, set_reminder(ctx, user, words[1:]))
            return
        text, blocks = waiting_list_blocks(waiting_for(ctx, user, team_of(body)), user)
        tell(ctx, body, text, blocks=blocks)


REMINDER_USAGE = N_(
    "Use `/mail-inbox reminder <mailbox address> <hours> [time zone] [days]`, for example "
    "`/mail-inbox reminder sales@acme.com 4 Europe/Paris mon-fri`, or "
    "`/mail-inbox reminder sales@acme.com off`."
)


def set_reminder(ctx: AppContext, user: str, args: list[str]) -> str:
    if len(args) < 2:
        raise UserError(_(REMINDER_USAGE))
    mailbox = _managed_mailbox(ctx, user, args[0])
    if args[1].lower() == "off":
        hours = 0.0
    else:
        try:
            hours = float(args[1].lower().removesuffix("h"))
        except ValueError:
            raise UserError(
                _(
                    "{value} is not a number of hours. Use `/mail-inbox reminder <mailbox "
                    "address> <hours> [time zone] [days]`, for example `/mail-inbox reminder "
                    "sales@acme.com 4 Europe/Paris mon-fri`, or `/mail-inbox reminder "
                    "sales@acme.com off`."
                ).format(value=repr(args[1]))
            ) from None
        if not 0 < hours <= 24 * 30:
            raise UserError(_("Pick a number of working hours between 0 and 720, or `off`."))
    tz = args[2] if len(args) > 2 else "UTC"
    days = parse_days(args[3]) if len(args) > 3 else {0, 1, 2, 3, 4}
    save_reminder(ctx, mailbox, user, hours, tz, days)
    if not hours:
        return _("Reminders are off for {address}.").format(address=mailbox.address)
    return ":alarm_clock: " + _(
        "{address}: a customer mail unanswered after {hours} working hours reminds its assignee "
        "(or the channel). Working days: {days}, time zone {tz}."
    ).format(address=mailbox.address, hours=f"{hours:g}", days=days_text(days), tz=tz)


def _managed_mailbox(ctx: AppContext, user: str, word: str) -> Mailbox:
    address = word.strip("<>").removeprefix("mailto:").split("|")[-1].lower()
    for mailbox in ctx.mailboxes.all():
        if mailbox.address.lower() == address and ctx.roles.can_manage(user, mailbox):
            return mailbox
    raise UserError(
        _(
            "You do not manage a mailbox {address}. The owner of a personal mailbox or an admin "
            "can set its reminder."
        ).format(address=address)
    )
