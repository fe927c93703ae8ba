"""The /mail-verify modal's submission: check the address, close the modal, answer.

Field mistakes (no address, an invalid one) come back as field errors at once; the SES call
runs after the modal has closed, and its answer (or a sentence saying what went wrong)
arrives as an ephemeral message where /mail-verify was typed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.senders import NEW_ADDRESS, VERIFY_CALLBACK, verify_answer
from bot.connect import view_values
from bot.context import AppContext
from bot.senders import Senders
from locales import _
from providers.errors import UNEXPECTED, MailroomError, UserError
from providers.ses import normalise_address

log = logging.getLogger(__name__)


def chosen_address(ctx: AppContext, values: dict[str, str], team: str) -> tuple[str, str, bool]:
    """(address, block id to blame, whether it is a connected mailbox)."""
    choice = values.get("mailbox", NEW_ADDRESS)
    if choice.startswith("mailbox:") and choice[8:].isdigit():
        mailbox = ctx.mailboxes.get(int(choice[8:]))
        if mailbox is None or mailbox.team_id != team:
            raise UserError(_("That mailbox no longer exists; choose another."), field="mailbox")
        return mailbox.address, "mailbox", True
    typed = values.get("address", "")
    if not typed:
        raise UserError(_("Type the address to verify, like sales@example.com."), field="address")
    try:
        return normalise_address(typed), "address", False
    except UserError as exc:
        raise UserError(exc.message, field="address") from None


def register(app: App, ctx: AppContext) -> None:
    senders: Senders = ctx.need_senders()

    @app.view(VERIFY_CALLBACK)
    def submit_verify(ack: Ack, body: dict[str, Any]) -> None:
        user = body["user"]["id"]
        team = body.get("team", {}).get("id", "") or body["user"].get("team_id", "")
        view = body["view"]
        meta = json.loads(view.get("private_metadata") or "{}")
        values = view_values(view["state"]["values"])
        if not ctx.roles.is_admin(user):
            ack(
                response_action="errors",
                errors={"sender_name": _("Only Mailroom admins can verify sender addresses.")},
            )
            return
        try:
            address, _block, is_mailbox = chosen_address(ctx, values, team)
        except UserError as exc:
            ack(response_action="errors", errors={exc.field or "address": exc.message})
            return
        ack()
        # Ticked switches the mailbox to SES; unticked leaves it as it is (the answer offers
        # a button to switch either way).
        ticked = "ses" in values.get("send_via", "").split(",")
        send_via_ses = True if is_mailbox and ticked else None
        channel = meta.get("channel_id") or ""
        try:
            answer = senders.verifications.start(
                team, user, address, values.get("sender_name", "")[:100], send_via_ses=send_via_ses
            )
            text, blocks = verify_answer(answer)
        except MailroomError as exc:
            text, blocks = exc.message, None
        except Exception:
            log.exception("/mail-verify submission failed")
            text, blocks = _(UNEXPECTED), None
        if channel:
            ctx.slack.ephemeral(channel, user, text, blocks=blocks)
        else:
            ctx.slack.dm(user, text, blocks=blocks)
