"""/mail-campaign, /mail-audience, /mail-campaign-template, and CSV files shared to import an audience.

The CSV listener is registered before the contacts import listener, so a file posted with
``import audience <name>`` goes to the audience and never into a mailbox's contacts.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.campaigns import campaign_list, campaign_modal, template_modal
from bot.campaigns import audiences, ledger, sending, steps, templates, unsubscribe
from bot.campaigns import limits as limits_module
from bot.context import AppContext
from bot.formatting.slack_text import escape
from handlers.common import tell, user_facing
from locales import N_, _, format_number, ngettext
from providers.errors import MailroomError, UserError

log = logging.getLogger(__name__)

CAMPAIGN_USAGE = N_(
    "Use `/mail-campaign` to start one, `/mail-campaign list`, `/mail-campaign cancel <number>`, "
    "`/mail-campaign followup <number> <days> <template> <all|no-reply|no-click|clicked>`, "
    "`/mail-campaign limits <mailbox address> <per second> <per minute> <per day>` (admins; 0 = "
    "no limit), `/mail-campaign suppressions` or `/mail-campaign unsuppress <address>` (admins)."
)
AUDIENCE_USAGE = N_(
    "Use `/mail-audience create <name>`, `/mail-audience add <name> a@b.com ...`, "
    "`/mail-audience remove <name> a@b.com ...`, `/mail-audience add-contacts <name> "
    "[mailbox:<address>]`, `/mail-audience list` or `/mail-audience import <name>`."
)
IMPORT_HOW = N_(
    "To import a CSV file into an audience, post the file (as a new message, not in a thread) "
    "in a channel Mailroom is in, or in a DM with Mailroom, with the message "
    "`import audience <name>`. The address column is found by its header (email, e-mail, "
    "correo) or its contents; every other column becomes a merge field (a `First Name` column "
    "is `{first_name}`)."
)
IMPORT_WORD = "import audience"
# Why an address is on the suppression list, as `/mail-campaign suppressions` shows it.
REASONS = {
    "unsubscribed": N_("unsubscribed"),
    "hard_bounce": N_("hard_bounce"),
    "complaint": N_("complaint"),
}


def _reason(reason: str) -> str:
    return _(REASONS[reason]) if reason in REASONS else reason


def _values(words: list[str]) -> list[str]:
    # Slack turns typed addresses into <mailto:a@b.com|a@b.com>.
    return [w.strip("<>").split("|")[-1].removeprefix("mailto:") for w in words]


def is_audience_import(event: dict[str, Any]) -> bool:
    text = (event.get("text") or "").strip().lower()
    return (
        text.startswith(IMPORT_WORD)
        and bool(event.get("files"))
        and bool(event.get("user"))
        and not event.get("bot_id")
        and not event.get("thread_ts")
    )


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-campaign")
    @user_facing(ctx)
    def mail_campaign(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = body["user_id"], body.get("team_id", "")
        ctx.roles.require_campaigns(user)
        words = (body.get("text") or "").split()
        action = words[0].lower() if words else "new"
        if action == "new":
            open_campaign_modal(ctx, client, body, user, team)
        elif action == "list":
            rows = [(c, ledger.counts(ctx, c.id)) for c in sending.list_campaigns(ctx, team)]  # type: ignore[arg-type]
            text, blocks = campaign_list(rows)
            tell(ctx, body, text, blocks=blocks)
        elif action == "limits":
            tell(ctx, body, _set_limits(ctx, user, team, words[1:]))
        elif action == "cancel" and len(words) == 2 and words[1].lstrip("#").isdigit():
            campaign = sending.set_state(
                ctx.need_campaigns(), int(words[1].lstrip("#")), team, user, "cancel"
            )
            tell(
                ctx,
                body,
                _("Campaign #{id} *{name}* cancelled.").format(
                    id=campaign.id, name=escape(campaign.name)
                ),
            )
        elif action == "followup":
            tell(ctx, body, _add_followup(ctx, user, team, words[1:]))
        elif action == "suppressions":
            ctx.roles.require_admin(user, "see the suppression list")
            suppressed = unsubscribe.list_suppressions(ctx, team)
            lines = [
                f"• {escape(r.address)} — {_reason(r.reason)} ({r.created_at:%Y-%m-%d})"
                for r in suppressed
            ]
            tell(
                ctx,
                body,
                _("Suppressed addresses (newest first):") + "\n" + "\n".join(lines)
                if lines
                else _("No suppressed addresses."),
            )
        elif action == "unsuppress":
            ctx.roles.require_admin(user, "remove addresses from the suppression list")
            address = _values(words[1:2])[0] if len(words) > 1 else ""
            removed = unsubscribe.remove_suppression(ctx, team, address)
            tell(
                ctx,
                body,
                (
                    _("{address} was removed from the suppression list.")
                    if removed
                    else _("{address} is not on the suppression list.")
                ).format(address=escape(address)),
            )
        else:
            raise UserError(
                _("I did not understand `{action}`. {usage}").format(
                    action=escape(action), usage=_(CAMPAIGN_USAGE)
                )
            )

    @app.command("/mail-audience")
    @user_facing(ctx)
    def mail_audience(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, team = body["user_id"], body.get("team_id", "")
        ctx.roles.require_campaigns(user)
        words = (body.get("text") or "").split()
        action = words[0].lower() if words else "list"
        if action == "list":
            lists = audiences.list_audiences(ctx, team)
            lines = [
                ngettext("• *{name}* — {n} address", "• *{name}* — {n} addresses", n).format(
                    name=escape(a.name), n=format_number(n)
                )
                for a, n in lists
            ]
            tell(
                ctx,
                body,
                _("Audiences:") + "\n" + "\n".join(lines)
                if lines
                else _("No audiences yet. {usage}").format(usage=_(AUDIENCE_USAGE)),
            )
        elif action == "create" and len(words) > 1:
            audience = audiences.create_audience(ctx, team, " ".join(words[1:]), user)
            tell(
                ctx,
                body,
                _("Audience *{name}* created. {how}").format(
                    name=escape(audience.name), how=_(IMPORT_HOW)
                ),
            )
        elif action == "import":
            tell(ctx, body, _(IMPORT_HOW))
        elif action == "add-contacts" and len(words) > 1:
            audience = audiences.require_audience(ctx, team, words[1])
            mailbox = next(
                (w.split(":", 1)[1] for w in words[2:] if w.startswith("mailbox:")), None
            )
            changes, domains = audiences.add_mailbox_contacts(
                ctx,
                audience,
                _values([mailbox])[0] if mailbox else None,
                user,
                body.get("channel_id", ""),
            )
            text = _changes_text("add", audience.name, changes)
            if domains:
                text += " " + ngettext(
                    "{n} @domain contact(s) cannot be mailed and were left out.",
                    "{n} @domain contact(s) cannot be mailed and were left out.",
                    domains,
                ).format(n=format_number(domains))
            tell(ctx, body, text)
        elif action in ("add", "remove") and len(words) > 2:
            audience = audiences.require_audience(ctx, team, words[1])
            values = _values(words[2:])
            if action == "add":
                changes = audiences.add_members(ctx, audience, values, user)
            else:
                changes = audiences.remove_members(ctx, audience, values)
            tell(ctx, body, _changes_text(action, audience.name, changes))
        else:
            raise UserError(_("I could not read that. {usage}").format(usage=_(AUDIENCE_USAGE)))

    @app.command("/mail-campaign-template")
    @user_facing(ctx)
    def mail_template(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = body["user_id"], body.get("team_id", "")
        ctx.roles.require_campaigns(user)
        words = (body.get("text") or "").split()
        action = words[0].lower() if words else "new"
        fields = sorted(set(templates.BUILTIN_FIELDS) | audiences.known_fields(ctx, team))
        if action == "new":
            open_template_modal(ctx, client, body, team, None)
        elif action == "edit" and len(words) > 1:
            row = templates.find_template(ctx, team, " ".join(words[1:]))
            if row is None:
                raise UserError(
                    _("There is no template with that name. See `/mail-campaign-template list`.")
                )
            client.views_open(trigger_id=body["trigger_id"], view=template_modal(row, fields))
        elif action == "list":
            saved = templates.list_templates(ctx, team)
            lines = [f"• *{escape(t.name)}* — {escape(t.subject)}" for t in saved]
            tell(
                ctx,
                body,
                _("Templates:") + "\n" + "\n".join(lines)
                if lines
                else _("No templates yet: `/mail-campaign-template new`."),
            )
        else:
            raise UserError(
                _(
                    "Use `/mail-campaign-template new`, `/mail-campaign-template edit <name>` "
                    "or `/mail-campaign-template list`."
                )
            )

    @app.event("message", matchers=[lambda event: is_audience_import(event)])
    def import_audience(event: dict[str, Any], body: dict[str, Any]) -> None:
        user, team = event["user"], body.get("team_id", "")
        try:
            ctx.roles.require_campaigns(user)
            files = [f for f in event.get("files") or [] if _is_csv(f)]
            if not files:
                raise UserError(_("That message has no CSV file. Share a .csv file with it."))
            name = (event.get("text") or "").strip()[len(IMPORT_WORD) :].strip() or "imported"
            audience = audiences.find_audience(ctx, team, name)
            if audience is None:
                audience = audiences.create_audience(ctx, team, name, user)
            # Big files are parsed and stored in the background; the report comes as a DM.
            sending.in_background(
                ctx,
                f"audience-import:{event.get('ts')}",
                audiences.import_files,
                ctx,
                user,
                audience.id,
                team,
                files,
            )
            ctx.slack.dm(
                user,
                _(
                    "Importing into audience *{name}*… I will tell you what was added and "
                    "what was skipped."
                ).format(name=escape(audience.name)),
            )
        except MailroomError as exc:
            ctx.slack.dm(user, escape(exc.message))


def _is_csv(file: dict[str, Any]) -> bool:
    name = (file.get("name") or "").lower()
    return (
        name.endswith(".csv")
        or file.get("filetype") == "csv"
        or (file.get("mimetype") or "").startswith("text/csv")
    )


def _changes_text(action: str, name: str, changes: audiences.MemberChanges) -> str:
    n = len(changes.done)
    if action == "add":
        done = ngettext(
            "Added {n} address(es) to *{name}*.", "Added {n} address(es) to *{name}*.", n
        )
    else:
        done = ngettext(
            "Removed {n} address(es) from *{name}*.", "Removed {n} address(es) from *{name}*.", n
        )
    parts = [done.format(n=format_number(n), name=escape(name))]
    if changes.unchanged:
        unchanged = escape(", ".join(changes.unchanged))
        parts.append(
            _("Already there: {addresses}.").format(addresses=unchanged)
            if action == "add"
            else _("Not in it: {addresses}.").format(addresses=unchanged)
        )
    if changes.suppressed:
        parts.append(
            _("Skipped, suppressed (unsubscribed or bounced): {addresses}.").format(
                addresses=escape(", ".join(changes.suppressed))
            )
        )
    if changes.invalid:
        parts.append(
            _("Skipped, invalid: {addresses}.").format(
                addresses=escape("; ".join(f"{v} ({why})" for v, why in changes.invalid))
            )
        )
    return " ".join(parts)


def _add_followup(ctx: AppContext, user: str, team: str, words: list[str]) -> str:
    usage = _(
        "Use `/mail-campaign followup <campaign number> <days> <template name> "
        "<all|no-reply|no-click|clicked>`, e.g. `/mail-campaign followup 12 3 reminder no-reply`."
    )
    if len(words) < 4 or not words[0].lstrip("#").isdigit():
        raise UserError(usage)
    try:
        days = float(words[1])
    except ValueError:
        raise UserError(usage) from None
    step = steps.add_step(
        ctx, team, user, int(words[0].lstrip("#")), days, " ".join(words[2:-1]), words[-1].lower()
    )
    return steps.followup_added_text(
        days, step.campaign_id, step.condition, escape(" ".join(words[2:-1]))
    )


def _set_limits(ctx: AppContext, user: str, team: str, words: list[str]) -> str:
    ctx.roles.require_admin(user, "change a mailbox's sending limits")
    if len(words) != 4:
        raise UserError(_(CAMPAIGN_USAGE))
    address = _values(words[:1])[0].lower()
    mailbox = next(
        (
            m
            for m in ctx.mailboxes.all(team)
            if m.address.lower() == address and m.kind == "marketing"
        ),
        None,
    )
    if mailbox is None:
        raise UserError(
            _("{address} is not a marketing mailbox of this workspace.").format(
                address=escape(address)
            )
        )
    try:
        per_second, per_minute, per_day = float(words[1]), int(words[2]), int(words[3])
    except ValueError:
        raise UserError(_(CAMPAIGN_USAGE)) from None
    if min(per_second, per_minute, per_day) < 0:
        raise UserError(_("Limits cannot be negative (0 means no limit)."))
    limits_module.set_limits(ctx, mailbox.id, per_second, per_minute, per_day, user)  # type: ignore[arg-type]
    limits = limits_module.limits_for(ctx, mailbox)
    return _("{address} now sends campaigns at {limits}.").format(
        address=escape(mailbox.address), limits=limits.describe()
    )


def open_template_modal(
    ctx: AppContext, client: Any, body: dict[str, Any], team: str, row: Any
) -> None:
    fields = sorted(set(templates.BUILTIN_FIELDS) | audiences.known_fields(ctx, team))
    client.views_open(trigger_id=body["trigger_id"], view=template_modal(row, fields))


def open_campaign_modal(
    ctx: AppContext, client: Any, body: dict[str, Any], user: str, team: str
) -> None:
    mailboxes = [(m.address, str(m.id)) for m in sending.campaign_mailboxes(ctx, user, team)]
    if not mailboxes:
        raise UserError(
            _(
                "There is no active, working marketing mailbox you can send from. Connect one "
                "with `/mail-connect` (kind: marketing), or check `/mail-status`."
            )
        )
    lists = [
        (f"{a.name} ({format_number(n)})", str(a.id))
        for a, n in audiences.list_audiences(ctx, team)
    ]
    if not lists:
        raise UserError(_("There are no audiences yet. {usage}").format(usage=_(AUDIENCE_USAGE)))
    rows = [(t.name, str(t.id)) for t in templates.list_templates(ctx, team)]
    if not rows:
        raise UserError(
            _("There are no templates yet. Write one with `/mail-campaign-template new`.")
        )
    client.views_open(trigger_id=body["trigger_id"], view=campaign_modal(mailboxes, lists, rows))
