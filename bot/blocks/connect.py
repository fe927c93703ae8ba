"""The /mail-connect modal and its "testing..." and "connected" views."""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.common import (
    Block,
    actions,
    channel_link,
    context,
    divider,
    modal,
    section,
    select_input,
    text_input,
)
from bot.formatting.slack_text import escape
from locales import N_, _
from storage.models import Mailbox, MailboxKind

CALLBACK = "mail_connect"
# The connect form's choices (also what bot.connect accepts).
SECURITY = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "none": N_("None (plain text)")}
BACKFILL = {
    "0": N_("None: only new mail"),
    "1": N_("The last day"),
    "7": N_("The last 7 days"),
    "30": N_("The last 30 days"),
}
KIND_LABELS: dict[str, str] = {
    MailboxKind.PERSONAL: N_("Personal (my own mailbox)"),
    MailboxKind.SHARED: N_("Shared sales mailbox (one per workspace)"),
    MailboxKind.MARKETING: N_("Marketing (bulk sending only)"),
}


def connect_modal(
    *,
    kinds: list[str],
    values: dict[str, str] | None = None,
    mailbox_id: int | None = None,
    sign_in: list[dict[str, Any]] | None = None,
    notice: str = "",
    field_notes: dict[str, str] | None = None,
    sign_in_note: str = "",
) -> dict[str, Any]:
    """The form. ``values`` refills it (reconnect, or after a failed test); ``field_notes``
    shows test results under their fields when they arrive after the 3-second ack window."""
    v = values or {}
    notes = field_notes or {}
    blocks: list[Block] = []
    if notice:
        blocks.append(section(notice))
    if sign_in:
        blocks.append(section(_("*Sign in* (recommended for Gmail and Microsoft 365):")))
        blocks.append(actions(*sign_in, block_id="sign_in"))
    if sign_in_note:
        # A provider without settings is said to be unconfigured, never shown as a dead button.
        blocks.append(context(sign_in_note))
    if sign_in or sign_in_note:
        blocks.append(divider())
        blocks.append(
            section(_("*Or connect by hand* with your provider's IMAP and SMTP settings:"))
        )

    def add(block: Block) -> None:
        blocks.append(block)
        note = notes.get(block["block_id"])
        if note:
            blocks.append(context(f":x: {escape(note)}"))

    add(
        select_input(
            "kind",
            _("Mailbox kind"),
            [(_(KIND_LABELS[k]), k) for k in kinds],
            initial=v.get("kind") or kinds[0],
        )
    )
    add(
        text_input(
            "address",
            _("Email address"),
            initial=v.get("address", ""),
            placeholder="sales@yourcompany.com",
        )
    )
    add(
        text_input(
            "sender_name",
            _("Sender name"),
            initial=v.get("sender_name", ""),
            optional=True,
            hint=_("The name customers see, like 'Ana from Acme'."),
        )
    )
    for block in server_fields(
        "imap",
        v,
        password_optional=mailbox_id is not None,
        password_hint=_("Stored encrypted. Leave empty to keep the saved one.")
        if mailbox_id
        else _("Stored encrypted."),
    ):
        add(block)
    for block in server_fields(
        "smtp", v, password_optional=True, password_hint=_("Leave empty to use the IMAP password.")
    ):
        add(block)
    channel: Block = {
        "type": "input",
        "block_id": "channel",
        "label": {"type": "plain_text", "text": _("Post email into")},
        "element": {
            "type": "conversations_select",
            "action_id": "value",
            "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        },
    }
    if v.get("channel"):
        channel["element"]["initial_conversation"] = v["channel"]
    add(channel)
    add(
        select_input(
            "backfill",
            _("Existing mail to bring in"),
            [(_(lbl), k) for k, lbl in BACKFILL.items()],
            initial=v.get("backfill") or "0",
        )
    )
    title = _("Reconnect mailbox") if mailbox_id else _("Connect a mailbox")
    return modal(
        title,
        blocks,
        callback_id=CALLBACK,
        submit=_("Test and save"),
        private_metadata=json.dumps({"mailbox_id": mailbox_id}),
    )


# Per protocol: (label, default port, example host, what an empty username means).
SERVERS = {
    "imap": ("IMAP", "993", "imap.yourcompany.com", N_("Leave empty to use the email address.")),
    "smtp": ("SMTP", "465", "smtp.yourcompany.com", N_("Leave empty to use the IMAP username.")),
}


def server_fields(
    protocol: str, v: dict[str, str], *, password_optional: bool, password_hint: str
) -> list[Block]:
    """Host, port, security, username and password inputs for IMAP or SMTP."""
    label, port, example, username_hint = SERVERS[protocol]
    return [
        text_input(
            f"{protocol}_host",
            _("{protocol} server").format(protocol=label),
            initial=v.get(f"{protocol}_host", ""),
            placeholder=example,
        ),
        text_input(
            f"{protocol}_port",
            _("{protocol} port").format(protocol=label),
            initial=v.get(f"{protocol}_port", port),
        ),
        select_input(
            f"{protocol}_security",
            _("{protocol} security").format(protocol=label),
            [(_(text), key) for key, text in SECURITY.items()],
            initial=v.get(f"{protocol}_security") or "ssl",
        ),
        text_input(
            f"{protocol}_username",
            _("{protocol} username").format(protocol=label),
            initial=v.get(f"{protocol}_username", ""),
            optional=True,
            hint=_(username_hint),
        ),
        text_input(
            f"{protocol}_password",
            _("{protocol} password").format(protocol=label),
            optional=password_optional,
            hint=password_hint,
        ),
    ]


def testing_view(address: str) -> dict[str, Any]:
    return modal(
        _("Connect a mailbox"),
        [
            section(
                ":hourglass_flowing_sand: "
                + _("Testing the IMAP and SMTP logins for *{address}*…").format(
                    address=escape(address)
                )
            ),
            context(
                _(
                    "This usually takes a few seconds. You can close this window: Mailroom will "
                    "message you with the result."
                )
            ),
        ],
        callback_id="mail_connect_testing",
        submit=None,
        close=_("Close"),
    )


def connected_view(mailbox: Mailbox, channel_note: str | None) -> dict[str, Any]:
    lines = [
        ":white_check_mark: "
        + _("*{address}* is connected.").format(address=escape(mailbox.address)),
        _("Its email will appear in {channel}; reply in a thread to answer by email.").format(
            channel=channel_link(mailbox.channel_id)
        ),
    ]
    if channel_note:
        lines.append(channel_note)
    return modal(
        _("Mailbox connected"),
        [
            section("\n".join(lines)),
            context(_("Start a thread message with `note:` to keep it internal.")),
        ],
        callback_id="mail_connect_done",
        submit=None,
        close=_("Done"),
    )


def form_values_from_mailbox(mailbox: Mailbox) -> dict[str, str]:
    return {
        "kind": mailbox.kind,
        "address": mailbox.address,
        "sender_name": mailbox.sender_name,
        "imap_host": mailbox.imap_host,
        "imap_port": str(mailbox.imap_port),
        "imap_security": mailbox.imap_security,
        "imap_username": mailbox.imap_username,
        "smtp_host": mailbox.smtp_host,
        "smtp_port": str(mailbox.smtp_port),
        "smtp_security": mailbox.smtp_security,
        "smtp_username": mailbox.smtp_username,
        "channel": mailbox.channel_id or "",
        "backfill": str(mailbox.backfill_days),
    }


def reconnected_by_other(before: Mailbox, after: Mailbox, actor: str) -> str:
    """For a mailbox's owner when someone else reconnected it (they may not expect it)."""
    changed = []
    if before.address.lower() != after.address.lower():
        changed.append(f"address {escape(before.address)} → {escape(after.address)}")
    if (before.imap_host, before.imap_port) != (after.imap_host, after.imap_port):
        changed.append(f"IMAP server {escape(after.imap_host)}:{after.imap_port}")
    if (before.smtp_host, before.smtp_port) != (after.smtp_host, after.smtp_port):
        changed.append(f"SMTP server {escape(after.smtp_host)}:{after.smtp_port}")
    detail = f" ({'; '.join(changed)})" if changed else ""
    return (
        f":warning: <@{actor}> reconnected your mailbox {escape(before.address)}{detail}. "
        "If you did not expect this, tell a Mailroom admin and check it with `/mail-status`."
    )


def ses_reset_note(mailbox: Mailbox) -> str:
    return (
        f"The address changed, so {escape(mailbox.address)} sends through its own SMTP server "
        "again: an admin can switch it back to Amazon SES once SES has verified the new address."
    )


def with_sign_in_buttons(view: dict[str, Any], buttons: list[dict[str, Any]]) -> dict[str, Any]:
    """``view`` (an open connect modal, as Slack sent it) with new sign-in buttons; the
    block ids stay, so Slack keeps what the person typed in the other fields."""
    blocks = [
        {**block, "elements": buttons} if block.get("block_id") == "sign_in" else block
        for block in view.get("blocks") or []
    ]
    kept = ("type", "callback_id", "title", "submit", "close", "private_metadata")
    return {key: view[key] for key in kept if key in view} | {"blocks": blocks}
