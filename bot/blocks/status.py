"""/mail-status: one section per mailbox the person may see, with its buttons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.blocks.common import (
    Block,
    actions,
    button,
    channel_link,
    confirm_dialog,
    context,
    divider,
    option,
    plain,
    section,
    slack_date,
)
from bot.formatting.slack_text import escape
from locales import N_, _, format_list, ngettext
from storage.models import Health, Mailbox, MailboxKind

REMOVE = "mailbox_remove"

# Keyed by str: Health is a StrEnum and rows hold the plain string.
HEALTH_LABELS: dict[str, str] = {
    Health.OK: N_(":large_green_circle: working"),
    Health.NEW: N_(":white_circle: connected, first sync pending"),
    Health.NEEDS_ATTENTION: N_(":red_circle: needs attention"),
    Health.RECONNECT_NEEDED: N_(":red_circle: reconnect needed"),
    Health.ADMIN_APPROVAL_NEEDED: N_(":large_orange_circle: Microsoft admin approval needed"),
}


# A mailbox's kind in one word (the stored values are the English words).
KIND_WORDS: dict[str, str] = {
    MailboxKind.PERSONAL: N_("personal"),
    MailboxKind.SHARED: N_("shared"),
    MailboxKind.MARKETING: N_("marketing"),
}


def kind_word(kind: str) -> str:
    word = KIND_WORDS.get(kind)
    return _(word) if word else kind


def health_label(health: str) -> str:
    """A mailbox's health in words, in the reader's language (unknown values as they are)."""
    label = HEALTH_LABELS.get(health)
    return _(label) if label else health


# Each language named in itself, as language pickers do (not translated).
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "default"
MAILBOX_LANGUAGE = "mailbox_language"
CHANNEL_LANGUAGE = "channel_language"


def language_select(action_id: str, target: str, current: str | None) -> dict[str, Any]:
    """A language picker; each option's value is ``<target>:<language>`` (``default``: the
    workspace language)."""
    options = [option(_("Workspace language"), f"{target}:{DEFAULT_LANGUAGE}")] + [
        option(name, f"{target}:{code}") for code, name in LANGUAGE_NAMES.items()
    ]
    chosen = f"{target}:{current if current in LANGUAGE_NAMES else DEFAULT_LANGUAGE}"
    return {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": plain(_("Language")),
        "options": options,
        "initial_option": next(o for o in options if o["value"] == chosen),
    }


def channel_language_blocks(channel_id: str, current: str | None) -> list[Block]:
    """For admins in a channel: the language of the posts this channel reads."""
    return [
        divider(),
        section(_("*Language of this channel's posts* (for admins):")),
        actions(
            language_select(CHANNEL_LANGUAGE, channel_id, current),
            block_id="channel_language",
        ),
    ]


def when(value: datetime | None) -> str:
    if value is None:
        return _("never")
    return slack_date(value, words=False)


def mailbox_status_blocks(
    mailbox: Mailbox, *, can_manage: bool, extra_lines: list[str] | None = None
) -> list[Block]:
    state = _("active") if mailbox.active else _("inactive (sends nothing, syncs nothing)")
    visibility = _("visible") if mailbox.visible else _("hidden (admins only)")
    lines = [
        f"*{escape(mailbox.address)}* · {kind_word(mailbox.kind)} · {health_label(mailbox.health)}",
        _("Channel: {channel} · {state} · {visibility}").format(
            channel=channel_link(mailbox.channel_id), state=state, visibility=visibility
        ),
        _("Last successful sync: {when} · messages synced: {count}").format(
            when=when(mailbox.last_success_at), count=mailbox.messages_synced
        ),
    ]
    if mailbox.last_error:
        lines.append(_("Last error: {error}").format(error=escape(mailbox.last_error)))
    lines += extra_lines or []
    blocks: list[Block] = [section("\n".join(lines))]
    buttons = [button(_("Sync now"), "mailbox_sync_now", str(mailbox.id))]
    if can_manage:
        buttons.append(
            button(
                _("Pause") if mailbox.active else _("Activate"),
                "mailbox_toggle_active",
                str(mailbox.id),
            )
        )
        buttons.append(button(_("Reconnect"), "mailbox_reconnect", str(mailbox.id)))
        buttons.append(remove_button(mailbox))
        # The language of the email Mailroom itself writes for this mailbox.
        buttons.append(language_select(MAILBOX_LANGUAGE, str(mailbox.id), mailbox.language))
    blocks.append(actions(*buttons, block_id=f"mailbox_{mailbox.id}"))
    return blocks


def remove_button(mailbox: Mailbox) -> dict[str, Any]:
    """Remove, behind Slack's confirmation: it cannot be undone (the secrets are wiped)."""
    return button(
        _("Remove"),
        REMOVE,
        str(mailbox.id),
        style="danger",
        confirm=confirm_dialog(
            _("Remove this mailbox?"),
            _(
                "Remove {address}? Mailroom stops syncing it and forgets its password and "
                "tokens. Its threads stay in Slack."
            ).format(address=escape(mailbox.address)),
            _("Remove"),
            danger=True,
        ),
    )


def sign_in_setup_note(providers: list[str], settings: list[str]) -> str:
    """For Mailroom admins (never other users): which sign-ins are off and who can turn
    them on. Admins manage mailboxes in Slack; the settings belong to whoever runs the
    server, so the note says what to ask of them."""
    names = format_list(providers)
    return _(
        "{names} sign-in is not configured on this Mailroom server, so people connect "
        "mailboxes with a password (IMAP/SMTP) only. To offer "
        "{names} sign-in, ask whoever runs the Mailroom server to register the app and set "
        "{settings}, then restart Mailroom (Mailroom's README explains each step "
        "under 'Google and Microsoft sign-in')."
    ).format(names=names, settings=", ".join(settings))


def status_message(
    mailboxes: list[tuple[Mailbox, bool, list[str]]],
    footer_lines: list[str] | None = None,
    extra_blocks: list[Block] | None = None,
) -> tuple[str, list[Block]]:
    if not mailboxes:
        text = _("No mailboxes yet. Connect one with `/mail-connect`.")
        blocks: list[Block] = [section(text), *(extra_blocks or [])]
        if footer_lines:
            blocks.append(context(*footer_lines))
        return text, blocks
    blocks = [section(_("*Your mailboxes* ({count})").format(count=len(mailboxes)))]
    # Before the mailboxes: when Slack's 50-block limit cuts, it cuts mailboxes (all are in
    # /mail-status's App Home too), never the channel's settings.
    blocks += extra_blocks or []
    for mailbox, can_manage, extra in mailboxes[:15]:  # 15 x 3 blocks stays under Slack's 50
        blocks.append(divider())
        blocks += mailbox_status_blocks(mailbox, can_manage=can_manage, extra_lines=extra)
    if footer_lines:
        blocks.append(context(*footer_lines))
    count = len(mailboxes)
    return ngettext("{n} mailbox", "{n} mailboxes", count).format(n=count), blocks[:50]
