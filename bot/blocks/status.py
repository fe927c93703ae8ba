"""/mail-status: one section per mailbox the person may see, with its buttons."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.blocks.common import Block, actions, button, channel_link, context, divider, section
from bot.formatting.slack_text import escape
from locales import ngettext
from storage.models import Health, Mailbox

# Keyed by str: Health is a StrEnum and rows hold the plain string.
HEALTH_LABELS: dict[str, str] = {
    Health.OK: ":large_green_circle: working",
    Health.NEW: ":white_circle: connected, first sync pending",
    Health.NEEDS_ATTENTION: ":red_circle: needs attention",
    Health.RECONNECT_NEEDED: ":red_circle: reconnect needed",
    Health.ADMIN_APPROVAL_NEEDED: ":large_orange_circle: Microsoft admin approval needed",
}


def when(value: datetime | None) -> str:
    if value is None:
        return "never"
    stamp = int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{value:%Y-%m-%d %H:%M} UTC>"


def mailbox_status_blocks(
    mailbox: Mailbox, *, can_manage: bool, extra_lines: list[str] | None = None
) -> list[Block]:
    state = "active" if mailbox.active else "inactive (sends nothing, syncs nothing)"
    visibility = "visible" if mailbox.visible else "hidden (admins only)"
    lines = [
        f"*{escape(mailbox.address)}* · {mailbox.kind} · {HEALTH_LABELS.get(mailbox.health, mailbox.health)}",
        f"Channel: {channel_link(mailbox.channel_id)} · {state} · {visibility}",
        f"Last successful sync: {when(mailbox.last_success_at)} · messages synced: {mailbox.messages_synced}",
    ]
    if mailbox.last_error:
        lines.append(f"Last error: {escape(mailbox.last_error)}")
    lines += extra_lines or []
    blocks: list[Block] = [section("\n".join(lines))]
    buttons = [button("Sync now", "mailbox_sync_now", str(mailbox.id))]
    if can_manage:
        buttons.append(
            button(
                "Pause" if mailbox.active else "Activate", "mailbox_toggle_active", str(mailbox.id)
            )
        )
        buttons.append(button("Reconnect", "mailbox_reconnect", str(mailbox.id)))
    blocks.append(actions(*buttons, block_id=f"mailbox_{mailbox.id}"))
    return blocks


def sign_in_setup_note(providers: list[str], settings: list[str]) -> str:
    """For Mailroom admins (never other users): which sign-ins are off and who can turn
    them on. Admins manage mailboxes in Slack; the settings belong to whoever runs the
    server, so the note says what to ask of them."""
    names = " and ".join(providers)
    return (
        f"{names} sign-in is not configured on this Mailroom server, so people connect "
        "mailboxes with a password (IMAP/SMTP) only. To offer "
        f"{names} sign-in, ask whoever runs the Mailroom server to register the app and set "
        f"{', '.join(settings)}, then restart Mailroom (Mailroom's README explains each step "
        "under 'Google and Microsoft sign-in')."
    )


def status_message(
    mailboxes: list[tuple[Mailbox, bool, list[str]]], footer_lines: list[str] | None = None
) -> tuple[str, list[Block]]:
    if not mailboxes:
        text = "No mailboxes yet. Connect one with `/mail-connect`."
        blocks: list[Block] = [section(text)]
        if footer_lines:
            blocks.append(context(*footer_lines))
        return text, blocks
    blocks = [section(f"*Your mailboxes* ({len(mailboxes)})")]
    for mailbox, can_manage, extra in mailboxes[:15]:  # 15 x 3 blocks stays under Slack's 50
        blocks.append(divider())
        blocks += mailbox_status_blocks(mailbox, can_manage=can_manage, extra_lines=extra)
    if footer_lines:
        blocks.append(context(*footer_lines))
    count = len(mailboxes)
    return ngettext("{n} mailbox", "{n} mailboxes", count).format(n=count), blocks[:50]
