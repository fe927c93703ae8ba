"""Sign-in buttons, sign-in outcomes, reconnect / consent notices, and /mail-consent."""

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
from bot.formatting.plural import plural
from bot.formatting.slack_text import escape
from storage.models import Mailbox

PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft"}
START_ACTION = "signin_start_{provider}"  # URL buttons still send a click: we record choices
PICK_CHANNEL_ACTION = "signin_pick_channel"
RESUME_ACTION = "signin_resume"
CHECK_ACTION = "consent_check"
STATUS_LABELS = {
    "granted": ":large_green_circle: approved",
    "needed": ":large_orange_circle: approval needed",
    "declined": ":red_circle: declined by an admin",
    "unknown": ":white_circle: unknown",
}


def sign_in_button(provider: str, url: str, state: str) -> dict[str, Any]:
    return button(
        f"Sign in with {PROVIDER_NAMES[provider]}",
        START_ACTION.format(provider=provider),
        state,
        url=url,
        style="primary" if provider == "google" else None,
    )


def not_configured_note(providers: list[str]) -> str:
    names = " and ".join(PROVIDER_NAMES[p] for p in providers)
    return (
        f"{names} sign-in is not configured on this Mailroom server; a Mailroom admin can "
        "turn it on (see README, 'Google and Microsoft sign-in')."
    )


def connected_blocks(
    mailbox: Mailbox, provider: str, channel_note: str | None
) -> tuple[str, list[Block]]:
    name = PROVIDER_NAMES.get(provider, provider)
    text = f":white_check_mark: {mailbox.address} is connected with {name}."
    lines = [f":white_check_mark: *{escape(mailbox.address)}* is connected with {name} sign-in."]
    if mailbox.channel_id:
        lines.append(
            f"Its email will appear in {channel_link(mailbox.channel_id)}; reply in a thread to answer by email."
        )
    if channel_note:
        lines.append(channel_note)
    return text, [
        section("\n".join(lines)),
        context("Start a thread message with `note:` to keep it internal."),
    ]


def address_connected_text(mailbox: Mailbox, provider: str, actor: str) -> str:
    """For the person whose address was signed in, when someone else started the sign-in."""
    name = PROVIDER_NAMES.get(provider, provider)
    where = f", posting into {channel_link(mailbox.channel_id)}" if mailbox.channel_id else ""
    return (
        f":warning: Your address {escape(mailbox.address)} was connected to Mailroom with "
        f"{name} sign-in, started by <@{actor}>{where}. If you did not mean to allow this, "
        f"revoke Mailroom's access in your {name} account and tell a Mailroom admin."
    )


def pick_channel_blocks(mailbox: Mailbox, provider: str) -> tuple[str, list[Block]]:
    name = PROVIDER_NAMES.get(provider, provider)
    text = (
        f":white_check_mark: {mailbox.address} is signed in with {name}. Choose the channel "
        "where its email should appear."
    )
    picker = {
        "type": "conversations_select",
        "action_id": PICK_CHANNEL_ACTION,
        "placeholder": {"type": "plain_text", "text": "Choose a channel"},
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    return text, [
        section(
            f":white_check_mark: *{escape(mailbox.address)}* is signed in with {name}.\n"
            "Choose the channel where its email should appear; syncing starts as soon as you do."
        ),
        {"type": "actions", "block_id": f"signin_channel_{mailbox.id}", "elements": [picker]},
    ]


def failure_blocks(message: str) -> tuple[str, list[Block]]:
    text = f":x: {escape(message)}"
    return text, [section(text)]


def reconnect_blocks(mailbox: Mailbox, message: str) -> tuple[str, list[Block]]:
    text = f":warning: {escape(message)}"
    return text, [
        section(
            f"{text}\nNew mail is not reaching Slack and replies cannot be "
            "sent until you sign in again."
        ),
        actions(button("Reconnect", "mailbox_reconnect", str(mailbox.id), style="primary")),
    ]


def config_alert_blocks(provider: str, code: str, address: str = "") -> tuple[str, list[Block]]:
    name = PROVIDER_NAMES.get(provider, provider)
    setting = f"{provider.upper()}_CLIENT_SECRET"
    what = f" while signing in or refreshing {escape(address)}" if address else ""
    text = (
        f":rotating_light: {name} refused Mailroom's client secret{what} "
        f"({escape(code) or 'invalid_client'}). Sign-ins and token refreshes for every {name} "
        f"mailbox fail until {setting} is fixed."
    )
    steps = (
        "Create a new client secret in the Microsoft Entra admin center (App registrations > "
        "Mailroom > Certificates & secrets)"
        if provider == "microsoft"
        else "Create a new client secret in Google Cloud Console (APIs & Services > Credentials > "
        "Mailroom's OAuth client)"
    )
    return text, [
        section(text),
        context(
            f"{steps}, set {setting} to it and restart Mailroom. "
            "Users were not asked to do anything."
        ),
    ]


def granted_blocks(tenant_label: str, mailbox: Mailbox | None) -> tuple[str, list[Block]]:
    target = f"*{escape(mailbox.address)}*" if mailbox else "your Microsoft 365 mailbox"
    text = (
        f":white_check_mark: An IT admin approved Mailroom for {tenant_label}. "
        "Finish signing in to connect your mailbox."
    )
    # A known mailbox reconnects through the usual Reconnect flow; otherwise /mail-connect's.
    finish = (
        button("Finish signing in", "mailbox_reconnect", str(mailbox.id), style="primary")
        if mailbox and mailbox.id
        else button("Finish signing in", RESUME_ACTION, "new", style="primary")
    )
    return text, [
        section(
            f":white_check_mark: An IT admin approved Mailroom for {escape(tenant_label)}.\n"
            f"Finish signing in with Microsoft to connect {target}."
        ),
        actions(finish),
    ]


def entra_steps() -> list[str]:
    """What the tenant's admin does in Microsoft Entra (after the Moonflow help article)."""
    return [
        "Open the approval link above while signed in as a Global Administrator (or a "
        "Privileged Role / Cloud Application Administrator), review the two mail permissions "
        "and press *Accept*. That approves Mailroom for everyone in the organisation.",
        "Alternatively, in the Microsoft Entra admin center (entra.microsoft.com) go to "
        "*Enterprise applications > Consent and permissions > User consent settings*.",
        "There, *Allow user consent for apps* lets each person approve Mailroom themselves; "
        "*Do not allow user consent* means an admin approves each app, as with the link above.",
        "Also turn on *Users can request admin consent to apps they are unable to consent to* "
        "(Enterprise applications > Admin consent settings), so people can ask for approval "
        "straight from Microsoft's sign-in page.",
        "If someone still cannot connect after that, check that they are assigned to Mailroom "
        "(when assignment is required) and that no Conditional Access policy blocks it.",
    ]


def forward_message(link: str) -> str:
    """A ready-made message a person sends to their IT admin."""
    return (
        "Hi! I'd like to connect my work mailbox to Mailroom, our Slack inbox, but Microsoft "
        "says it needs an administrator's approval. Mailroom only asks for two permissions: "
        "reading mail over IMAP (IMAP.AccessAsUser.All) and sending mail over SMTP (SMTP.Send), "
        "for the people who sign in themselves. Could you approve it with this link, signed in "
        f"as a Global Administrator?\n{link}\nThank you!"
    )


@dataclass
class TenantView:
    """One Microsoft tenant as /mail-consent shows it."""

    row_id: int
    tenant: str
    status: str
    consent_link: str
    waiting_mailboxes: list[str] = field(default_factory=list)
    waiting_users: list[str] = field(default_factory=list)
    last_error: str | None = None
    checked: str = ""

    @property
    def label(self) -> str:
        if self.tenant == "organizations":
            return "your Microsoft 365 organisation (tenant not identified yet)"
        return f"Microsoft 365 tenant {self.tenant}"


def consent_overview(
    tenants: list[TenantView], *, configured: bool, general_link: str | None
) -> tuple[str, list[Block]]:
    if not configured:
        text = (
            "Microsoft sign-in is not configured on this Mailroom server, so there is nothing "
            "to approve. A Mailroom admin can set MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET "
            "and PUBLIC_URL (see README)."
        )
        return text, [section(text)]
    blocks: list[Block] = [header("Microsoft admin approval")]
    if not tenants:
        text = (
            "No Microsoft 365 organisation is waiting for an admin's approval. When a "
            "sign-in needs it, the organisation appears here with its approval link."
        )
        blocks.append(section(text))
        if general_link:
            blocks.append(
                context(
                    f"IT admins can approve Mailroom ahead of time: <{general_link}|approval link>."
                )
            )
        return text, blocks
    for view in tenants[:5]:  # 5 tenants x 8 blocks stays under Slack's 50
        waiting = [escape(a) for a in view.waiting_mailboxes] + [
            f"<@{u}>" for u in view.waiting_users
        ]
        lines = [f"*{escape(view.label)}*: {STATUS_LABELS.get(view.status, view.status)}"]
        lines.append("Waiting: " + (", ".join(waiting) if waiting else "nobody right now"))
        if view.last_error:
            lines.append(f"Last answer from Microsoft: {escape(view.last_error)}")
        if view.checked:
            lines.append(f"Last checked: {view.checked}")
        blocks.append(divider())
        blocks.append(section("\n".join(lines)))
        if view.status != "granted" and not view.consent_link:
            blocks.append(section(ASK_ADMIN_FOR_LINK))
        elif view.status != "granted":
            blocks.append(
                section(
                    f"*Approval link* for the tenant's admin: <{view.consent_link}|Approve Mailroom in Microsoft 365>"
                )
            )
            steps = "\n".join(f"{i}. {step}" for i, step in enumerate(entra_steps(), 1))
            blocks.append(section(f"*What the IT admin does*\n{steps}"))
            blocks.append(
                section(
                    "*Message to forward to IT*\n```" + forward_message(view.consent_link) + "```"
                )
            )
        blocks.append(
            actions(
                button("Check again", CHECK_ACTION, str(view.row_id)),
                block_id=f"consent_{view.row_id}",
            )
        )
    text = f"Microsoft admin approval: {plural(len(tenants), 'organisation', 'organisations')}"
    return text, blocks[:50]


ASK_ADMIN_FOR_LINK = (
    "Only Mailroom admins get the approval link here: ask one to run `/mail-consent` and send "
    "the link to your organisation's IT admin."
)


def consent_needed_blocks(message: str, link: str) -> tuple[str, list[Block]]:
    """For the person whose sign-in needs approval: why, and what to send to IT (the link
    only for Mailroom admins; others are told who has it)."""
    text = f":large_orange_circle: {message}"
    forward = (
        section("*Send this to your IT admin:*\n```" + forward_message(link) + "```")
        if link
        else section(ASK_ADMIN_FOR_LINK)
    )
    return text, [
        section(f":large_orange_circle: {escape(message)}"),
        forward,
        context(
            "You will get a message here as soon as Mailroom sees the approval. "
            "`/mail-consent` shows the status and the steps for IT."
        ),
    ]


def check_result_text(label: str, status: str) -> str:
    if status == "granted":
        return f":white_check_mark: Mailroom is approved for {label}. Waiting people have been told to finish signing in."
    return f"{STATUS_LABELS.get(status, status)} for {label}: Microsoft does not report an approval yet. Mailroom checks again by itself."
