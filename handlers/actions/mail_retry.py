"""The Retry button on the notice of a mail that could not be shown in Slack."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.context import AppContext
from handlers.common import tell, user_facing, user_of
from locales import _
from providers.errors import UserError


def register(app: App, ctx: AppContext) -> None:
    @app.action("email_ingest_retry")
    @user_facing(ctx)
    def retry(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        value = body["actions"][0].get("value", "")
        if not value.isdigit():
            raise UserError(_("That email is not available any more."))
        # The id is untrusted: retry_failed checks it against who clicked.
        refusal = ctx.sync.retry_failed(int(value), user_of(body))
        tell(
            ctx,
            body,
            refusal
            or _(
                "Trying that email again now. It will appear in this channel if it can be shown; "
                "if not, a new notice will say why."
            ),
        )
