"""Who may read a stored email in full ("Show full email"), and how the button names it.

The button's value is not the row id (sequential, so any id could be tried) but the id with
an HMAC keyed by the installation's secret key: only a value Mailroom itself put on a post
is accepted. The person must also be the mailbox's owner or a member of the channel the
mail was posted in, i.e. someone who could already read the post; mail that was never
posted (Sent folder, skipped in partial mode) is never shown.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.settings import Settings, ensure_secret_key
from locales import N_, _
from providers.errors import UserError
from storage.models import Conversation, Mailbox, Message

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

_PURPOSE = b"mailroom/show-full-email/v1\x00"
_MAC_CHARS = 32  # 128 bits
# conversations.members pages: 1,000 members each, so channels of up to 50,000 people.
_MEMBER_PAGE = 1000
_MAX_MEMBER_PAGES = 50
NOT_AVAILABLE = N_(
    "That email is not available to you. Ask the mailbox's owner, or someone in the channel "
    "it was posted in, to share it."
)


def _mac(key: str, row_id: int) -> str:
    derived = hashlib.sha256(_PURPOSE + key.encode()).digest()
    return hmac.new(derived, str(row_id).encode(), hashlib.sha256).hexdigest()[:_MAC_CHARS]


def show_full_reference(settings: Settings, row_id: int) -> str:
    """The value of a post's "Show full email" button: ``<id>.<mac>``."""
    return f"{row_id}.{_mac(ensure_secret_key(settings)[0], row_id)}"


def row_id_of_reference(settings: Settings, value: str) -> int | None:
    """The row id named by a button value, or None when Mailroom did not make that value."""
    row_part, dot, mac = (value or "").partition(".")
    if not dot or not row_part.isdigit() or len(row_part) > 18 or len(mac) != _MAC_CHARS:
        return None
    row_id = int(row_part)
    # Any of the keys: a rotated-out key still vouches for the buttons it made.
    for key in ensure_secret_key(settings):
        if hmac.compare_digest(_mac(key, row_id), mac):
            return row_id
    return None


def readable_email(ctx: Core, value: str, user_id: str) -> Message:
    """The posted mail a "Show full email" value names, when this person may read it."""
    row_id = row_id_of_reference(ctx.settings, value)
    if row_id is None:
        log.info("show-full refused for %s: not a reference Mailroom made", user_id)
        raise UserError(_(NOT_AVAILABLE))
    with ctx.db.session() as session:
        row = session.get(Message, row_id)
        mailbox = session.get(Mailbox, row.mailbox_id) if row else None
        conversation = (
            session.get(Conversation, row.conversation_id) if row and row.conversation_id else None
        )
    if row is None or mailbox is None or conversation is None or not row.slack_ts:
        raise UserError(_(NOT_AVAILABLE))
    if mailbox.owner_id != user_id and not channel_has_member(
        ctx, conversation.channel_id, user_id
    ):
        raise UserError(_(NOT_AVAILABLE))
    return row


def channel_has_member(ctx: Core, channel_id: str, user_id: str) -> bool:
    """Whether Slack lists ``user_id`` among the channel's members (False when it cannot say)."""
    if not channel_id:
        return False
    cursor = ""
    for _page in range(_MAX_MEMBER_PAGES):
        try:
            answer = ctx.slack.client.conversations_members(
                channel=channel_id, limit=_MEMBER_PAGE, cursor=cursor or None
            )
        except SlackApiError as exc:
            log.info("conversations.members %s failed: %s", channel_id, exc.response.get("error"))
            return False
        if user_id in (answer.get("members") or []):
            return True
        cursor = (answer.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            return False
    return False
