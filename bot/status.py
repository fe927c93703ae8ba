"""What /mail-status (and App Home without the settings panel) reports to one person.

Features add lines about a mailbox (verification state, consent...) through
``ctx.status_lines`` and, for admins, about the workspace (domain verdicts) through
``ctx.status_footer``.
"""

from __future__ import annotations

from bot.blocks.common import CHANNEL_ID_RE, Block
from bot.blocks.status import channel_language_blocks, status_message
from bot.context import AppContext
from locales import speaking


def build_status(
    ctx: AppContext, user_id: str, team_id: str, channel_id: str = ""
) -> tuple[str, list[Block]]:
    """The mailboxes ``user_id`` may see, with what they may do to each; for an admin in a
    channel, also the language of that channel's posts."""
    rows = []
    for mailbox in ctx.mailboxes.all(team_id or None):
        if not ctx.roles.can_see(user_id, mailbox):
            continue
        extra: list[str] = []
        for mailbox_lines in ctx.status_lines:
            extra += mailbox_lines(mailbox)
        rows.append((mailbox, ctx.roles.can_manage(user_id, mailbox), extra))
    footer: list[str] = []
    settings: list[Block] = []
    if ctx.roles.is_admin(user_id):
        for footer_lines in ctx.status_footer:
            footer += footer_lines(team_id)
        if CHANNEL_ID_RE.fullmatch(channel_id or ""):
            chosen = ctx.languages.channel_choice(channel_id)
            settings = channel_language_blocks(channel_id, chosen)
    return status_message(rows, footer, settings)


def publish_home(ctx: AppContext, user_id: str, team_id: str) -> None:
    """(Re)publish one person's App Home tab: the settings panel, or the status report."""
    builder = ctx.home_view
    # App Home is one person's: in their language, also when a change elsewhere republishes it.
    with speaking(ctx.languages.of(user_id)):
        if builder is not None:
            view = builder(user_id, team_id)
        else:
            _text, blocks = build_status(ctx, user_id, team_id)
            view = {"type": "home", "blocks": blocks}
    ctx.slack.client.views_publish(user_id=user_id, view=view)
