"""Modal submissions of the team inbox: Send later, Assign, Snooze, New email."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App

from bot.connect import view_values
from bot.context import AppContext
from bot.inbox import compose, templates, triage
from bot.inbox.timezones import local_to_utc, user_timezone
from bot.testhooks import pause_for_tests
from handlers.common import team_of
from locales import _
from providers.errors import MailroomError
from storage.models import ThreadStatus

log = logging.getLogger(__name__)


def _picked(values: dict[str, Any], block: str, key: str) -> str:
    return str((values.get(block, {}).get("value") or {}).get(key) or "")


def register(app: App, ctx: AppContext) -> None:
    @app.view("reply_send_later")
    def send_later(ack: Ack, body: dict[str, Any]) -> None:
        user = body["user"]["id"]
        view = body["view"]
        metadata = str(view.get("private_metadata") or "")
        values = view["state"]["values"]
        if not metadata.isdigit():
            ack(response_action="errors", errors={"day": _("That reply is no longer available.")})
            return
        try:
            when = local_to_utc(
                _picked(values, "day", "selected_date"),
                _picked(values, "time", "selected_time"),
                user_timezone(ctx, user),
            )
        except MailroomError as exc:
            ack(response_action="errors", errors={"time": exc.message})
            return
        # The row id is untrusted: send_later() moves only the author's own held reply.
        refusal = ctx.replies.send_later(int(metadata), user, when)
        if refusal:
            ack(response_action="errors", errors={"time": refusal})
            return
        ack()

    @app.view("triage_assign")
    def assign(ack: Ack, body: dict[str, Any]) -> None:
        user, view = body["user"]["id"], body["view"]
        metadata = str(view.get("private_metadata") or "")
        selected = (view["state"]["values"].get("assignee", {}).get("value") or {}).get(
            "selected_option"
        )
        chosen = str((selected or {}).get("value") or "")
        if not metadata.isdigit() or not chosen:
            ack(response_action="errors", errors={"assignee": _("Pick someone to assign.")})
            return
        # Both ids are untrusted: assign() checks the person submitting and the one chosen.
        try:
            triage.assign(ctx, int(metadata), user, chosen)
        except MailroomError as exc:
            ack(response_action="errors", errors={"assignee": exc.message})
            return
        ack()

    @app.view("triage_snooze")
    def snooze(ack: Ack, body: dict[str, Any]) -> None:
        user, view = body["user"]["id"], body["view"]
        metadata = str(view.get("private_metadata") or "")
        values = view["state"]["values"]
        if not metadata.isdigit():
            ack(response_action="errors", errors={"day": _("That conversation no longer exists.")})
            return
        try:
            when = local_to_utc(
                _picked(values, "day", "selected_date"),
                _picked(values, "time", "selected_time"),
                user_timezone(ctx, user),
            )
            triage.set_status(ctx, int(metadata), user, ThreadStatus.SNOOZED, when)
        except MailroomError as exc:
            ack(response_action="errors", errors={"time": exc.message})
            return
        ack()

    @app.view("mail_compose")
    def send_new_email(ack: Ack, body: dict[str, Any]) -> None:
        user, view = body["user"]["id"], body["view"]
        # Every field is checked again here: the From choice, the addresses and the file
        # ids are untrusted.
        draft, errors = compose.check_draft(ctx, user, view["state"]["values"])
        if draft is None:
            ack(response_action="errors", errors=errors)
            return
        try:
            # Recorded (with its files) before the ack: a crash after it still sends it once.
            row = compose.record(ctx, draft, user, str(view.get("id") or ""))
        except Exception:
            log.exception("recording a new email failed")
            ack(
                response_action="errors",
                errors={
                    "body": _(
                        "Mailroom could not record your email; nothing was sent. "
                        "Try again in a minute."
                    )
                },
            )
            return
        ack()
        if row is not None:
            pause_for_tests("compose_after_ack")
            compose.start(ctx, row)

    @app.view("template_reply")
    def send_template_reply(ack: Ack, body: dict[str, Any]) -> None:
        user, view = body["user"]["id"], body["view"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        values = view["state"]["values"]
        block = next((b for b in values if b.startswith("body_")), "")
        text = str((values.get(block, {}).get("value") or {}).get("value") or "").strip()
        if not text:
            ack(response_action="errors", errors={block or "body_": _("Write the reply.")})
            return
        try:
            # The conversation id is untrusted: the person must be able to answer from it.
            conversation = triage.checked_conversation(
                ctx, int(metadata.get("conversation") or 0), user
            )
            inbox_id = templates.reply_with(ctx, conversation, user, text)
        except MailroomError as exc:
            ack(response_action="errors", errors={block: exc.message})
            return
        ack()
        if inbox_id is not None:
            # Stored before the ack: a crash from here on is finished by recover().
            ctx.replies.handle_thread_message(inbox_id)

    @app.view("template_save")
    def save_template(ack: Ack, body: dict[str, Any]) -> None:
        user, view = body["user"]["id"], body["view"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        form = view_values(view["state"]["values"])
        errors = templates.check_template(form.get("name", ""), form.get("body", ""))
        if errors:
            ack(response_action="errors", errors=errors)
            return
        mailbox_id = metadata.get("mailbox")
        mailbox = ctx.mailboxes.get(int(mailbox_id)) if mailbox_id else None
        try:
            # Rights are checked again here: the metadata came back from Slack.
            templates.save(
                ctx,
                user,
                mailbox.team_id if mailbox else team_of(body),
                mailbox,
                metadata.get("id"),
                form.get("name", ""),
                form.get("body", ""),
            )
        except MailroomError as exc:
            ack(response_action="errors", errors={"name": exc.message})
            return
        ack()
