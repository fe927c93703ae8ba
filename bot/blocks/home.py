"""The App Home tab: each person's mailboxes with their status and buttons; admins also get
the workspace's shared and marketing mailboxes and the domains' latest DNS verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.blocks.common import (
    Block,
    actions,
    button,
    channel_link,
    context,
    divider,
    header,
    section,
)
from bot.blocks.status import health_label, kind_word, remove_button, when
from bot.formatting.slack_text import escape
from locales import _, ngettext
from storage.models import DomainReportRow, Mailbox, MailboxKind

# What App Home shows, computed by bot/preferences/panel.py and drawn here.


@dataclass
class MailboxPanel:
    """What App Home shows about one mailbox for one person."""

    mailbox: Mailbox
    can_manage: bool
    problems: list[str] = field(default_factory=list)  # why it is not functional
    pending: list[str] = field(default_factory=list)  # verification / consent in progress
    footer_set: bool = False
    contacts: int = 0
    sync_line: str = ""  # live (push) / polling and why / reconnecting


@dataclass
class HomePanel:
    user_id: str
    is_admin: bool
    own: list[MailboxPanel]
    workspace: list[MailboxPanel]  # shared and marketing (admins: all, others: visible ones)
    verdicts: list[DomainReportRow]  # admins only


MAX_MAILBOXES = 25  # 3 blocks each keeps the tab under Slack's 100-block limit
VERDICT_ICONS = {
    "pass": ":white_check_mark:",
    "ok": ":white_check_mark:",
    "warn": ":warning:",
    "warning": ":warning:",
    "fail": ":x:",
}


def mailbox_blocks(panel: MailboxPanel) -> list[Block]:
    m = panel.mailbox
    status = (
        ":large_green_circle: " + _("active")
        if m.active
        else ":double_vertical_bar: " + _("inactive (sends nothing, syncs nothing)")
    )
    visibility = _("visible") if m.visible else _("hidden (admins only)")
    sync = _("partial: only contacts' mail") if m.sync_mode == "partial" else _("full: every email")
    contacts = ngettext("{n} contact", "{n} contacts", panel.contacts).format(n=panel.contacts)
    sync_line = _("Sync: {sync} ({contacts}) · Last sync: {when}").format(
        sync=sync, contacts=contacts, when=when(m.last_sync_at)
    )
    if m.channel_id:
        sync_line += " · " + _("Channel: {channel}").format(channel=channel_link(m.channel_id))
    lines = [
        f"*{escape(m.address)}* · {kind_word(m.kind)} · {escape(health_label(m.health))}",
        _("Status: {status} · Visibility: {visibility}").format(
            status=status, visibility=visibility
        ),
        sync_line,
    ]
    if panel.sync_line:
        lines.append(panel.sync_line)
    if panel.problems:
        lines.append(
            ":warning: "
            + _("*Not functional:* {problems}").format(
                problems=" ".join(escape(p) for p in panel.problems)
            )
        )
    else:
        lines.append(
            ":white_check_mark: " + _("Functional") if m.active else _("Functional when activated")
        )
    lines += [f":hourglass_flowing_sand: {escape(p)}" for p in panel.pending]
    lines.append(
        _("Footer: its own") if panel.footer_set else _("Footer: workspace default (if any)")
    )
    buttons = []
    if m.active:
        buttons.append(button(_("Sync now"), "mailbox_sync_now", str(m.id)))
    if panel.can_manage:
        buttons.append(
            button(
                _("Pause") if m.active else _("Activate"),
                "mailbox_toggle_active",
                str(m.id),
                style=None if m.active else "primary",
            )
        )
        if m.kind != MailboxKind.PERSONAL:
            buttons.append(
                button(_("Hide") if m.visible else _("Show"), "home_toggle_visible", str(m.id))
            )
        buttons.append(
            button(
                _("Partial sync") if m.sync_mode != "partial" else _("Full sync"),
                "home_sync_mode",
                str(m.id),
            )
        )
        buttons.append(button(_("Edit footer"), "home_edit_footer", str(m.id)))
        if panel.problems:
            buttons.append(button(_("Reconnect"), "mailbox_reconnect", str(m.id)))
        buttons.append(remove_button(m))
    domain = m.address.rpartition("@")[2].lower()
    if domain:
        buttons.append(button(_("Check DKIM"), "dkim_check_open", domain))
    return [
        section("\n".join(lines), block_id=f"home_mailbox_{m.id}"),
        actions(*buttons, block_id=f"home_actions_{m.id}"),
    ]


def home_view(panel: HomePanel) -> dict[str, Any]:
    blocks: list[Block] = [header("Mailroom")]
    tools = [button(_("Connect a mailbox"), "home_connect", style="primary")]
    if panel.is_admin:
        tools.append(button(_("Edit default footer"), "home_edit_footer", "default"))
    blocks.append(actions(*tools, block_id="home_tools"))
    budget = MAX_MAILBOXES

    def add_section(title: str, panels: list[MailboxPanel], empty: str) -> None:
        nonlocal budget
        blocks.append(section(f"*{title}*"))
        if not panels:
            blocks.append(context(empty))
        for item in panels[:budget]:
            blocks.append(divider())
            blocks.extend(mailbox_blocks(item))
        if len(panels) > budget:
            more = len(panels) - budget
            blocks.append(
                context(
                    ngettext(
                        "…and {n} more: see `/mail-status`.",
                        "…and {n} more: see `/mail-status`.",
                        more,
                    ).format(n=more)
                )
            )
        budget = max(0, budget - len(panels))

    add_section(
        _("Your mailboxes"),
        panel.own,
        _("You have no personal mailbox yet: press *Connect a mailbox*."),
    )
    blocks.append(divider())
    title = _("Shared and marketing mailboxes") if panel.is_admin else _("Shared mailboxes")
    add_section(
        title,
        panel.workspace,
        _("None yet.") if panel.is_admin else _("No shared mailbox is offered to you."),
    )
    if panel.is_admin:
        blocks.append(divider())
        blocks.append(section(_("*Domains (latest DNS check)*")))
        if panel.verdicts:
            blocks.append(
                section(
                    "\n".join(
                        f"{VERDICT_ICONS.get(r.verdict.lower(), ':grey_question:')} *{escape(r.domain)}*: "
                        f"{escape(r.verdict)} · {when(r.created_at)}"
                        for r in panel.verdicts[:30]
                    )
                )
            )
        else:
            blocks.append(context(_("No domain checked yet: press *Check DKIM* on a mailbox.")))
    blocks.append(
        context(
            _(
                "Status: active mailboxes sync and send; inactive ones send nothing. "
                "Hidden mailboxes are listed only to admins."
            )
        )
    )
    return {"type": "home", "blocks": blocks[:100]}
