"""Language pickers: a mailbox's email language, a channel's (from /mail-status)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.blocks.common import CHANNEL_ID_RE
from bot.blocks.status import (
    CHANNEL_LANGUAGE,
    DEFAULT_LANGUAGE,
    LANGUAGE_NAMES,
    MAILBOX_LANGUAGE,
)
from bot.context import AppContext
from handlers.common import team_of, tell, user_facing, user_of
from locales import LANGUAGES, _, workspace_language
from providers.errors import UserError


def _choice(body: dict[str, Any]) -> tuple[str, str | None]:
    """(target, language) of the picked option; language None: the workspace language."""
    value = str(((body.get("actions") or [{}])[0].get("selected_option") or {}).get("value", ""))
    target, _sep, language = value.rpartition(":")
    if not target or (language != DEFAULT_LANGUAGE and language not in LANGUAGES):
        raise UserError(_("That choice is not one Mailroom offers. Run `/mail-status` again."))
    return target, None if language == DEFAULT_LANGUAGE else language


def _named(language: str | None) -> str:
    return LANGUAGE_NAMES[language or workspace_language()]


def register(app: App, ctx: AppContext) -> None:
    @app.action(MAILBOX_LANGUAGE)
    @user_facing(ctx)
    def set_mailbox_language(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        target, language = _choice(body)
        mailbox = ctx.mailboxes.get(int(target)) if target.isdigit() else None
        if mailbox is None or mailbox.id is None:
            raise UserError(
                _("That mailbox no longer exists. Run `/mail-status` to see the current list.")
            )
        ctx.lifecycle.set_language(user_of(body), mailbox, language)
        tell(
            ctx,
            body,
            _("The email Mailroom writes for {address} is now in {language}.").format(
                address=mailbox.address, language=_named(language)
            ),
        )

    @app.action(CHANNEL_LANGUAGE)
    @user_facing(ctx)
    def set_channel_language(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = user_of(body)
        ctx.roles.require_admin(user, "choose a channel's language")
        channel_id, language = _choice(body)
        if not CHANNEL_ID_RE.fullmatch(channel_id):
            raise UserError(_("That choice is not one Mailroom offers. Run `/mail-status` again."))
        ctx.languages.set_channel(team_of(body), channel_id, language, user)
        tell(
            ctx,
            body,
            _("Mailroom now posts in {language} in this channel.").format(
                language=_named(language)
            ),
        )
