"""Buttons of the team inbox: Undo and Send later on a held reply; Assign, Done, Reopen
and Snooze on a thread's root post."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.inbox import assign_modal, template_reply_modal, when_modal
from bot.blocks.replies import send_later_modal
from bot.context import AppContext
from bot.inbox import templates, triage
from bot.inbox.timezones import user_timezone
from handlers.common import channel_of, tell, user_facing, user_of
from locales import _
from providers.errors import UserError
from storage.models import ThreadStatus


def _row_id(body: dict[str, Any]) -> int:
    value = body["actions"][0].get("value", "")
    if not value.isdigit():
        raise UserError(_("That reply is no longer available."))
    return int(value)


def register(app: App, ctx: AppContext) -> None:
    @app.action("reply_undo")
    @user_facing(ctx)
    def undo(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        # The id is untrusted: undo() changes the row only for its author, only while held.
        refusal = ctx.replies.undo(_row_id(body), user_of(body))
        if refusal:
            tell(ctx, body, refusal)

    @app.action("reply_send_later")
    @user_facing(ctx)
    def send_later(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        row_id = _row_id(body)
        zone = user_timezone(ctx, user_of(body))
        client.views_open(trigger_id=body["trigger_id"], view=send_later_modal(row_id, zone.key))

    register_triage(app, ctx)
    register_templates(app, ctx)


def _clicked_conversation(ctx: AppContext, body: dict[str, Any]) -> int:
    """The thread whose root post was clicked (found by channel + message ts)."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or channel_of(body)
    conversation = triage.conversation_for_post(ctx, channel, container.get("message_ts", ""))
    return conversation.id  # type: ignore[return-value]


def register_triage(app: App, ctx: AppContext) -> None:
    @app.action("triage_assign_me")
    @user_facing(ctx)
    def assign_me(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        triage.assign(ctx, _clicked_conversation(ctx, body), user, user)

    @app.action("triage_assign")
    @user_facing(ctx)
    def assign_someone(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        conversation = triage.checked_conversation(
            ctx, _clicked_conversation(ctx, body), user_of(body)
        )
        mailbox = ctx.mailboxes.get(conversation.mailbox_id)
        assert mailbox is not None
        people = triage.eligible_assignees(ctx, mailbox)
        client.views_open(
            trigger_id=body["trigger_id"],
            view=assign_modal(conversation.id, people),  # type: ignore[arg-type]
        )

    @app.action("triage_done")
    @user_facing(ctx)
    def done(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        triage.set_status(ctx, _clicked_conversation(ctx, body), user_of(body), ThreadStatus.DONE)

    @app.action("triage_reopen")
    @user_facing(ctx)
    def reopen(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        triage.set_status(ctx, _clicked_conversation(ctx, body), user_of(body), ThreadStatus.OPEN)

    @app.action("triage_snooze")
    @user_facing(ctx)
    def snooze(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user = user_of(body)
        conversation = triage.checked_conversation(ctx, _clicked_conversation(ctx, body), user)
        zone = user_timezone(ctx, user)
        view = when_modal(
            "triage_snooze", _("Snooze until"), str(conversation.id), zone.key, submit=_("Snooze")
        )
        client.views_open(trigger_id=body["trigger_id"], view=view)


def _template_choices(ctx: AppContext, conversation: Any) -> list[Any]:
    mailbox = ctx.mailboxes.get(conversation.mailbox_id)
    assert mailbox is not None
    rows = templates.templates_for(ctx, mailbox.team_id, mailbox.id)
    if not rows:
        raise UserError(
            _(
                "There are no saved replies for this mailbox yet. Its managers can add some with "
                "`/mail-template add`."
            )
        )
    return rows


def _template_view(ctx: AppContext, conversation: Any, user: str, chosen_id: str) -> dict:
    mailbox = ctx.mailboxes.get(conversation.mailbox_id)
    assert mailbox is not None
    rows = _template_choices(ctx, conversation)
    chosen = next((r for r in rows if str(r.id) == chosen_id), rows[0])
    text = templates.fill(ctx, chosen, mailbox, conversation, user)
    options = [
        (r.name if r.mailbox_id else _("{name} (workspace)").format(name=r.name), str(r.id))
        for r in rows
    ]
    return template_reply_modal(conversation.id, options, str(chosen.id), text)


def register_templates(app: App, ctx: AppContext) -> None:
    @app.action("template_reply_open")
    @user_facing(ctx)
    def open_template_reply(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user = user_of(body)
        conversation = triage.checked_conversation(ctx, _clicked_conversation(ctx, body), user)
        view = _template_view(ctx, conversation, user, "")
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action("template_pick")
    @user_facing(ctx)
    def pick_template(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user = user_of(body)
        view = body["view"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        # The conversation id comes back from Slack: checked against the person again.
        conversation = triage.checked_conversation(ctx, int(metadata.get("conversation", 0)), user)
        chosen = (body["actions"][0].get("selected_option") or {}).get("value", "")
        client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=_template_view(ctx, conversation, user, chosen),
        )
