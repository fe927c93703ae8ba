"""The connect modal's submission: validate, test the logins, then save.

Slack wants an answer within 3 seconds. The checks and the login test get 1.5 of them (the rest
is for the network and a loaded machine); when they take longer we answer with a "testing..."
view and finish with views.update.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.blocks.common import channel_link
from bot.blocks.connect import (
    CALLBACK,
    connect_modal,
    connected_view,
    ses_reset_note,
    testing_view,
)
from bot.connect import (
    ConnectForm,
    FormErrors,
    examine_submission,
    join_channel,
    parse_connect_form,
    save_mailbox,
    tell_owner_of_reconnect,
    view_values,
)
from bot.context import AppContext
from bot.formatting.slack_text import escape
from bot.web import RECEIVED_AT
from handlers.commands.connect import allowed_kinds, sign_in_buttons
from locales import ContextExecutor, _
from providers.errors import UNEXPECTED

log = logging.getLogger(__name__)
# Seconds of Slack's 3 we spend checking and testing before answering "testing...": the
# rest is for what we do not control (Slack's way to us and back, a loaded machine).
ACK_BUDGET = 1.5
# ContextExecutor: the test's error sentences are in the language of the submitter.
_pool = ContextExecutor(8, thread_name_prefix="connect-test")


def register(app: App, ctx: AppContext) -> None:
    @app.view(CALLBACK)
    def submit_connect(
        ack: Ack, body: dict[str, Any], client: Any, context: dict[str, Any]
    ) -> None:
        # Slack's 3 seconds started when the request reached us (bot/web.py), which on a
        # busy machine can be well before this listener got a thread.
        started = context.get(RECEIVED_AT) or time.monotonic()
        user = body["user"]["id"]
        team = body.get("team", {}).get("id", "") or body["user"].get("team_id", "")
        view = body["view"]
        meta = json.loads(view.get("private_metadata") or "{}")
        mailbox_id = meta.get("mailbox_id")
        values = view_values(view["state"]["values"])
        kinds = allowed_kinds(ctx, user)
        existing = ctx.mailboxes.get(mailbox_id) if mailbox_id else None
        if mailbox_id and (existing is None or not ctx.lifecycle.may_reconnect(user, existing)):
            ack(
                response_action="errors",
                errors={"address": _("You can no longer edit this mailbox.")},
            )
            return
        try:
            form = parse_connect_form(
                values,
                allowed_kinds=set(kinds),
                mailbox_id=mailbox_id,
                has_saved_password=bool(existing and existing.secrets),
            )
        except FormErrors as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        # The checks ask Slack and the database and the test logs in: all of it runs in the
        # pool, so the ack comes within the budget however slow any of them is.
        future = _pool.submit(examine_submission, ctx, form, user, team, existing)
        try:
            errors = future.result(timeout=max(0.05, ACK_BUDGET - (time.monotonic() - started)))
        except FutureTimeout:
            ack(response_action="update", view=testing_view(form.address))
            _finish_late(ctx, client, body, form, values, kinds, future.result(), user, team)
            return
        except Exception:
            log.exception("connection test failed unexpectedly")
            ack(response_action="errors", errors={"address": _(UNEXPECTED)})
            return
        if errors:
            ack(response_action="errors", errors=errors)
            return
        mailbox, note = _save(ctx, form, user, team)
        ack(response_action="update", view=connected_view(mailbox, note))


def _save(ctx: AppContext, form: ConnectForm, user: str, team: str) -> tuple[Any, str | None]:
    before = ctx.mailboxes.get(form.mailbox_id) if form.mailbox_id else None
    mailbox = save_mailbox(ctx, form, user, team)
    note = join_channel(ctx, mailbox.channel_id or "")
    mailbox = ctx.lifecycle.connected(mailbox)
    if before is not None:
        tell_owner_of_reconnect(ctx, before, mailbox, user)
        if before.send_via == "ses" and mailbox.send_via != "ses":
            note = " ".join(filter(None, [note, ses_reset_note(mailbox)]))
    return mailbox, note


def _finish_late(
    ctx: AppContext,
    client: Any,
    body: dict[str, Any],
    form: ConnectForm,
    values: dict[str, str],
    kinds: list[str],
    errors: dict[str, str],
    user: str,
    team: str,
) -> None:
    """The test outlived the ack window: show its outcome with views.update."""
    view_id = body["view"]["id"]
    if errors:
        view = connect_modal(
            kinds=kinds,
            values=values,
            mailbox_id=form.mailbox_id,
            sign_in=sign_in_buttons(ctx, user, team, form.kind, form.mailbox_id),
            notice=":x: "
            + _(
                "*The connection test failed.* Fix the fields marked below and press "
                "Test and save again (passwords must be typed again)."
            ),
            field_notes=errors,
        )
        problems = " ".join(dict.fromkeys(errors.values()))
        _show_or_tell(
            ctx,
            client,
            view_id,
            view,
            user,
            ":x: "
            + _(
                "The connection test for {address} failed: {problems} Run `/mail-connect` to "
                "try again."
            ).format(address=escape(form.address), problems=escape(problems)),
        )
        return
    mailbox, note = _save(ctx, form, user, team)
    _show_or_tell(
        ctx,
        client,
        view_id,
        connected_view(mailbox, note),
        user,
        (
            ":white_check_mark: "
            + _("{address} is connected: its email will appear in {channel}. {note}").format(
                address=escape(mailbox.address),
                channel=channel_link(mailbox.channel_id),
                note=note or "",
            )
        ).strip(),
    )


def _show_or_tell(
    ctx: AppContext, client: Any, view_id: str, view: dict[str, Any], user: str, text: str
) -> None:
    """Update the modal; when the person closed it meanwhile, send the outcome as a DM
    (the testing view promises they will hear back either way)."""
    try:
        client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:
        log.info(
            "connect modal %s is gone (%s); sending the outcome as a DM",
            view_id,
            exc.response.get("error"),
        )
        ctx.slack.dm(user, text)
