"""/mail-template [list] | add | edit <name> | remove <name>, each with an optional
``mailbox:<address>`` (without it: the workspace's templates)."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.inbox import template_edit_modal, template_list_blocks
from bot.context import AppContext
from bot.inbox import templates
from handlers.commands.contacts import split_mailbox
from handlers.common import team_of, tell, user_facing, user_of
from locales import N_, _
from providers.errors import UserError
from storage.models import Mailbox

USAGE = N_(
    "Use `/mail-template` to list saved replies, `/mail-template add`, "
    "`/mail-template edit <name>` or `/mail-template remove <name>`; add "
    "`mailbox:<address>` for a mailbox's own templates (without it: the workspace's)."
)


def _mailbox(ctx: AppContext, user: str, address: str | None) -> Mailbox | None:
    if address is None:
        return None
    for mailbox in ctx.mailboxes.all():
        if mailbox.address.lower() == address.lower() and ctx.roles.can_see(user, mailbox):
            return mailbox
    raise UserError(
        _("You have no mailbox {address}. `/mail-status` lists yours.").format(address=address)
    )


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-template")
    @user_facing(ctx)
    def mail_template(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = user_of(body), team_of(body)
        words, address = split_mailbox(body.get("text") or "")
        mailbox = _mailbox(ctx, user, address)
        verb = words[0].lower() if words else "list"
        name = " ".join(words[1:]).strip()
        if verb == "list":
            rows = [
                r
                for m in [
                    None,
                    *[m for m in ctx.mailboxes.all(team or None) if ctx.roles.can_see(user, m)],
                ]
                for r in templates.templates_for(ctx, team, m.id if m else None)
                if (r.mailbox_id is None) == (m is None)
            ]
            scopes = {m.id: m.address for m in ctx.mailboxes.all()}
            text, blocks = template_list_blocks(rows, scopes)
            tell(ctx, body, text, blocks=blocks)
            return
        if verb not in ("add", "edit", "remove"):
            raise UserError(_(USAGE))
        templates.require_manager(ctx, user, mailbox)
        if verb == "remove":
            if not name:
                raise UserError(_(USAGE))
            templates.remove(ctx, user, team, mailbox, name)
            tell(ctx, body, _("Removed the saved reply {name}.").format(name=repr(name)))
            return
        existing = None
        if verb == "edit":
            existing = templates.find(ctx, team, mailbox.id if mailbox else None, name)
            if existing is None:
                raise UserError(
                    _(
                        "There is no template called {name} there. `/mail-template` lists them."
                    ).format(name=repr(name))
                )
        reference = json.dumps(
            {"mailbox": mailbox.id if mailbox else None, "id": existing.id if existing else None}
        )
        hint = _("Tags: {tags}").format(tags=" ".join(f"{{{t}}}" for t in templates.TEMPLATE_TAGS))
        view = template_edit_modal(
            reference,
            existing.name if existing else name,
            existing.body if existing else "",
            mailbox.address if mailbox else None,
            hint,
        )
        client.views_open(trigger_id=body["trigger_id"], view=view)
