"""/mail-verify [address] [sender name]: verify a sender address with Amazon SES (admins).

With an address it starts at once; without one it opens the modal (views.open first, while
the trigger id is fresh, before any AWS call). The modal's submission is handled in
handlers/views/senders.py.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.senders import verify_answer, verify_modal
from bot.context import AppContext
from bot.senders import Senders
from bot.senders.parsing import parse_verify_text
from bot.senders.verification import require_ses
from handlers.common import channel_of, team_of, tell, user_facing, user_of


def register(app: App, ctx: AppContext) -> None:
    senders: Senders = ctx.need_senders()

    @app.command("/mail-verify")
    @user_facing(ctx)
    def mail_verify(ack: Ack, body: dict[str, Any], client: Any) -> None:
        ack()
        user, team = user_of(body), team_of(body)
        ctx.roles.require_admin(user, "verify sender addresses")
        request = parse_verify_text(body.get("text") or "")
        if request is None:
            # "SES is not configured" beats a form that cannot work. Nothing else before
            # views.open: even building an AWS client may resolve credentials over the network.
            require_ses(ctx.settings)
            mailboxes = ctx.mailboxes.all(team or None)
            client.views_open(
                trigger_id=body["trigger_id"],
                view=verify_modal(mailboxes, channel_id=channel_of(body)),
            )
            return
        answer = senders.verifications.start(team, user, request.address, request.sender_name)
        text, blocks = verify_answer(answer)
        tell(ctx, body, text, blocks=blocks)
