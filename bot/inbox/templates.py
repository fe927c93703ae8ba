"""Saved replies: templates for one mailbox or the whole workspace.

A template may use the footer's tags (``{sender_name}``, ``{mailbox_email}``...) plus
``{customer_name}`` and ``{customer_email}``; they are filled in when the template is
picked, so the person sees and can edit the exact text before it is sent. Managing them is
for the mailbox's managers (its owner or an admin); workspace templates for admins.
"""

from __future__ import annotations

import json
import re

from sqlmodel import col, or_, select

from bot.context import AppContext
from bot.preferences.footers import TAGS, tag_values
from locales import _, ngettext
from providers.errors import UserError
from storage.models import Conversation, Mailbox, ReplyInbox, ReplyTemplate, utcnow

TEMPLATE_TAGS = {
    **TAGS,
    "customer_name": "the customer's name (from their mail; their address when none)",
    "customer_email": "the customer's address",
}
_TAG_RE = re.compile(r"\{([^{}\s]*)\}")
MAX_BODY = 3000
MAX_NAME = 60


def templates_for(ctx: AppContext, team_id: str, mailbox_id: int | None) -> list[ReplyTemplate]:
    """The mailbox's own templates first, then the workspace's, each by name."""
    with ctx.db.session() as session:
        rows = session.exec(
            select(ReplyTemplate)
            .where(
                ReplyTemplate.team_id == team_id,
                or_(
                    col(ReplyTemplate.mailbox_id).is_(None),
                    ReplyTemplate.mailbox_id == mailbox_id,
                ),
            )
            .order_by(col(ReplyTemplate.mailbox_id).is_(None), col(ReplyTemplate.name))
        ).all()
    return list(rows)


def find(ctx: AppContext, team_id: str, mailbox_id: int | None, name: str) -> ReplyTemplate | None:
    with ctx.db.session() as session:
        query = select(ReplyTemplate).where(
            ReplyTemplate.team_id == team_id, ReplyTemplate.name == name
        )
        query = query.where(
            ReplyTemplate.mailbox_id == mailbox_id
            if mailbox_id is not None
            else col(ReplyTemplate.mailbox_id).is_(None)
        )
        return session.exec(query).first()


def check_template(name: str, body: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not name.strip() or len(name) > MAX_NAME:
        errors["name"] = _("Give the template a name of at most {limit} characters.").format(
            limit=MAX_NAME
        )
    if not body.strip():
        errors["body"] = _("Write the template's text.")
    elif len(body) > MAX_BODY:
        errors["body"] = _("Keep the template under {limit} characters.").format(limit=MAX_BODY)
    else:
        unknown = [t for t in _TAG_RE.findall(body) if t not in TEMPLATE_TAGS]
        if unknown:
            known = ", ".join(f"{{{t}}}" for t in TEMPLATE_TAGS)
            errors["body"] = ngettext(
                "Unknown tag {tags}. Use one of {known}.",
                "Unknown tags {tags}. Use one of {known}.",
                len(unknown),
            ).format(tags=", ".join(f"{{{t}}}" for t in unknown), known=known)
    return errors


def require_manager(ctx: AppContext, user_id: str, mailbox: Mailbox | None) -> None:
    if mailbox is None:
        ctx.roles.require_admin(user_id, "manage workspace templates")
    elif not ctx.roles.can_manage(user_id, mailbox):
        raise UserError(
            _(
                "Only the managers of {address} (its owner, or an admin) can change its templates."
            ).format(address=mailbox.address)
        )


def save(
    ctx: AppContext,
    user_id: str,
    team_id: str,
    mailbox: Mailbox | None,
    template_id: int | None,
    name: str,
    body: str,
) -> ReplyTemplate:
    require_manager(ctx, user_id, mailbox)
    mailbox_id = mailbox.id if mailbox else None
    clash = find(ctx, team_id, mailbox_id, name.strip())
    if clash is not None and clash.id != template_id:
        raise UserError(
            _("There is already a template called {name} here.").format(name=repr(name.strip()))
        )
    with ctx.db.session() as session:
        row = session.get(ReplyTemplate, template_id) if template_id else None
        if row is None or row.team_id != team_id or row.mailbox_id != mailbox_id:
            row = ReplyTemplate(team_id=team_id, mailbox_id=mailbox_id, name=name.strip())
        row.name, row.body = name.strip(), body
        row.updated_by, row.updated_at = user_id, utcnow()
        session.add(row)
        session.flush()
        session.refresh(row)
        session.expunge(row)
    return row


def remove(ctx: AppContext, user_id: str, team_id: str, mailbox: Mailbox | None, name: str) -> None:
    require_manager(ctx, user_id, mailbox)
    row = find(ctx, team_id, mailbox.id if mailbox else None, name)
    if row is None:
        raise UserError(
            _("There is no template called {name} there. `/mail-template` lists them.").format(
                name=repr(name)
            )
        )
    with ctx.db.session() as session:
        stored = session.get(ReplyTemplate, row.id)
        if stored is not None:
            session.delete(stored)


def fill(
    ctx: AppContext,
    template: ReplyTemplate,
    mailbox: Mailbox,
    conversation: Conversation,
    user_id: str,
) -> str:
    """The template's text with its tags filled in for this customer and this sender."""
    values = tag_values(ctx, mailbox, user_id).as_dict()
    values["customer_email"] = conversation.customer_address
    values["customer_name"] = conversation.customer_name or conversation.customer_address
    return _TAG_RE.sub(lambda m: values.get(m.group(1), m.group(0)), template.body or "")


def reply_with(ctx: AppContext, conversation: Conversation, user_id: str, text: str) -> int | None:
    """Post the filled-in template in the thread under the person's name and store it like
    a thread message they wrote (the reply inbox), so it is sent exactly like one: same
    checks, undo window, exactly once. Returns the inbox row to handle after the ack."""
    from bot.blocks.inbox import template_reply_post

    if not conversation.thread_ts:
        raise UserError(_("This conversation has no Slack thread yet; try again in a minute."))
    posted, blocks = template_reply_post(user_id, text)
    ts = ctx.slack.post(
        conversation.channel_id, posted, blocks=blocks, thread_ts=conversation.thread_ts
    )
    event = {
        "type": "message",
        "channel": conversation.channel_id,
        "user": user_id,
        "text": text,
        "ts": ts,
        "thread_ts": conversation.thread_ts,
    }
    row = ReplyInbox(
        channel_id=conversation.channel_id,
        message_ts=ts,
        event_id=None,
        event_json=json.dumps(event),
    )
    return row.id if ctx.db.insert_once(row) else None
