"""Who hears about sign-in trouble, once: owners (reconnect, consent), admins (our config).

Every notice goes through ``ctx.notifier.once`` with a stable key, so pollers, retries and
several processes reaching the same failure still send one message.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlmodel import or_, select

from bot.blocks.signin import config_alert_blocks
from locales import speaking
from storage.models import Role, User

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)


def send_once(
    ctx: Core, key: str, recipient: str, text: str, blocks: list[dict[str, Any]] | None = None
) -> bool:
    try:
        return ctx.notifier.once(key, recipient, text, blocks=blocks)
    except SlackApiError as exc:
        log.warning("could not notify %s: %s", recipient, exc.response.get("error"))
        return False


def dm(ctx: Core, user: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    """A direct message that must not turn a finished sign-in into an error page."""
    try:
        ctx.slack.dm(user, text, blocks=blocks)
    except SlackApiError as exc:
        log.warning("could not message %s: %s", user, exc.response.get("error"))


def admin_recipients(ctx: Core, team_id: str) -> list[str]:
    """The Mailroom admins' channel, else MAILROOM_ADMINS, else the known admins."""
    settings = ctx.settings
    if settings.mailroom_admin_channel:
        return [settings.mailroom_admin_channel]
    if settings.mailroom_admins:
        return sorted(set(settings.mailroom_admins))
    with ctx.db.session() as session:
        query = select(User).where(or_(User.role == Role.ADMIN, User.is_workspace_admin == True))  # noqa: E712
        if team_id:
            query = query.where(User.team_id == team_id)
        return sorted(user.id for user in session.exec(query))


def config_fault(
    ctx: Core, provider: str, code: str, *, team_id: str = "", address: str = ""
) -> None:
    """Alert the admins that the provider refused our client secret (once per secret)."""
    secret = getattr(ctx.settings, f"{provider}_client_secret", "")
    # Keyed on the secret in use: after the admins fix it, a new fault alerts again.
    fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:12]
    recipients = admin_recipients(ctx, team_id)
    if not recipients:
        log.error(
            "%s refused the client secret (%s) and no Mailroom admin is known to tell",
            provider,
            code,
        )
    for recipient in recipients:
        with speaking(ctx.languages.for_recipient(recipient)):
            text, blocks = config_alert_blocks(provider, code, address)
        send_once(
            ctx, f"signin-config:{provider}:{fingerprint}:{recipient}", recipient, text, blocks
        )
