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
from bot.formatting.slack_text import escape
from locales import N_, _, ngettext
from storage.models import Mailbox

PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft"}
START_ACTION = "signin_start_{provider}"  # URL buttons still send a click: we record choices
PICK_CHANNEL_ACTION = "signin_pick_channel"
RESUME_ACTION = "signin_resume"
CHECK_ACTION = "consent_check"
STATUS_LABELS = {
    "granted": N_(":large_green_circle: approved"),
    "needed": N_(":large_orange_circle: approval needed"),
    "declined": N_(":red_circle: declined by an admin"),
    "unknown": N_(":white_circle: unknown"),
}


def status_label(status: str) -> str:
    label = STATUS_LABELS.get(status)
    return _(label) if label else status


def sign_in_button(provider: str, url: str, state: str) -> dict[str, Any]:
    return button(
        _("Sign in with {provider}").format(provider=PROVIDER_NAMES[provider]),
        START_ACTION.format(provider=provider),
        state,
        url=url,
        style="primary" if provider == "google" else None,
    )


def not_configured_note(providers: list[str]) -> str:
    names = [PROVIDER_NAMES[p] for p in providers]
    if len(names) == 2:
        return _(
            "{first} and {second} sign-in is not configured on this Mailroom server; a Mailroom "
            "admin can turn it on (see README, 'Google and Microsoft sign-in')."
        ).format(first=names[0], second=names[1])
    return _(
        "{provider} sign-in is not configured on this Mailroom server; a Mailroom admin can "
        "turn it on (see README, 'Google and Microsoft sign-in')."
    ).format(provider=", ".join(names))


def connected_blocks(
    mailbox: Mailbox, provider: str, channel_note: str | None
) -> tuple[str, list[Block]]:
    name = PROVIDER_NAMES.get(provider, provider)
    text = ":white_check_mark: " + _("{address} is connected with {provider}.").format(
        address=mailbox.address, provider=name
    )
    lines = [
        ":white_check_mark: "
        + _("*{address}* is connected with {provider} sign-in.").format(
            address=escape(mailbox.address), provider=name
        )
    ]
    if mailbox.channel_id:
        lines.append(
            _("Its email will appear in {channel}; reply in a thread to answer by email.").format(
                channel=channel_link(mailbox.channel_id)
            )
        )
    if channel_note:
        lines.append(channel_note)
    return text, [
        section("\n".join(lines)),
        context(_("Start a thread message with `note:` to keep it internal.")),
    ]


def address_connected_text(mailbox: Mailbox, provider: str, actor: str) -> str:
    """For the person whose address was signed in, when someone else started the sign-in."""
    name = PROVIDER_NAMES.get(provider, provider)
    values = {"address": escape(mailbox.address), "provider": name, "actor": f"<@{actor}>"}
    if mailbox.channel_id:
        text = _(
            "Your address {address} was connected to Mailroom with {provider} sign-in, started "
            "by {actor}, posting into {channel}. If you did not mean to allow this, revoke "
            "Mailroom's access in your {provider} account and tell a Mailroom admin."
        ).format(channel=channel_link(mailbox.channel_id), **values)
    else:
        text = _(
            "Your address {address} was connected to Mailroom with {provider} sign-in, started "
            "by {actor}. If you did not mean to allow this, revoke Mailroom's access in your "
            "{provider} account and tell a Mailroom admin."
        ).format(**values)
    return ":warning: " + text


def pick_channel_blocks(mailbox: Mailbox, provider: str) -> tuple[str, list[Block]]:
    name = PROVIDER_NAMES.get(provider, provider)
    text = ":white_check_mark: " + _(
        "{address} is signed in with {provider}. Choose the channel where its email should appear."
    ).format(address=mailbox.address, provider=name)
    picker = {
        "type": "conversations_select",
        "action_id": PICK_CHANNEL_ACTION,
        "placeholder": {"type": "plain_text", "text": _("Choose a channel")},
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    return text, [
        section(
            ":white_check_mark: "
            + _(
                "*{address}* is signed in with {provider}.\n"
                "Choose the channel where its email should appear; syncing starts as soon as "
                "you do."
            ).format(address=escape(mailbox.address), provider=name)
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
            text
            + "\n"
            + _(
                "New mail is not reaching Slack and replies cannot be sent until you sign in again."
            )
        ),
        actions(button(_("Reconnect"), "mailbox_reconnect", str(mailbox.id), style="primary")),
    ]


def config_alert_blocks(provider: str, code: str, address: str = "") -> tuple[str, list[Block]]:
    name = PROVIDER_NAMES.get(provider, provider)
    setting = f"{provider.upper()}_CLIENT_SECRET"
    values = {"provider": name, "code": escape(code) or "invalid_client", "setting": setting}
    if address:
        text = _(
            "{provider} refused Mailroom's client secret while signing in or refreshing "
            "{address} ({code}). Sign-ins and token refreshes for every {provider} mailbox fail "
            "until {setting} is fixed."
        ).format(address=escape(address), **values)
    else:
        text = _(
            "{provider} refused Mailroom's client secret ({code}). Sign-ins and token refreshes "
            "for every {provider} mailbox fail until {setting} is fixed."
        ).format(**values)
    text = ":rotating_light: " + text
    if provider == "microsoft":
        steps = _(
            "Create a new client secret in the Microsoft Entra admin center (App registrations > "
            "Mailroom > Certificates & secrets), set {setting} to it and restart Mailroom. "
            "Users were not asked to do anything."
        )
    else:
        steps = _(
            "Create a new client secret in Google Cloud Console (APIs & Services > Credentials > "
            "Mailroom's OAuth client), set {setting} to it and restart Mailroom. "
            "Users were not asked to do anything."
        )
    return text, [section(text), context(steps.format(setting=setting))]


def granted_blocks(tenant_label: str, mailbox: Mailbox | None) -> tuple[str, list[Block]]:
    text = ":white_check_mark: " + _(
        "An IT admin approved Mailroom for {tenant}. Finish signing in to connect your mailbox."
    ).format(tenant=tenant_label)
    # A known mailbox reconnects through the usual Reconnect flow; otherwise /mail-connect's.
    finish = (
        button(_("Finish signing in"), "mailbox_reconnect", str(mailbox.id), style="primary")
        if mailbox and mailbox.id
        else button(_("Finish signing in"), RESUME_ACTION, "new", style="primary")
    )
    if mailbox:
        shown = _(
            "An IT admin approved Mailroom for {tenant}.\n"
            "Finish signing in with Microsoft to connect {address}."
        ).format(tenant=escape(tenant_label), address=f"*{escape(mailbox.address)}*")
    else:
        shown = _(
            "An IT admin approved Mailroom for {tenant}.\n"
            "Finish signing in with Microsoft to connect your Microsoft 365 mailbox."
        ).format(tenant=escape(tenant_label))
    return text, [section(":white_check_mark: " + shown), actions(finish)]


def entra_steps() -> list[str]:
    """What the tenant's admin does in Microsoft Entra (after the Moonflow help article)."""
    return [
        _(
            "Open the approval link above while signed in as a Global Administrator (or a "
            "Privileged Role / Cloud Application Administrator), review the two mail permissions "
            "and press *Accept*. That approves Mailroom for everyone in the organisation."
        ),
        _(
            "Alternatively, in the Microsoft Entra admin center (entra.microsoft.com) go to "
            "*Enterprise applications > Consent and permissions > User consent settings*."
        ),
        _(
            "There, *Allow user consent for apps* lets each person approve Mailroom themselves; "
            "*Do not allow user consent* means an admin approves each app, as with the link above."
        ),
        _(
            "Also turn on *Users can request admin consent to apps they are unable to consent to* "
            "(Enterprise applications > Admin consent settings), so people can ask for approval "
            "straight from Microsoft's sign-in page."
        ),
        _(
            "If someone still cannot connect after that, check that they are assigned to Mailroom "
            "(when assignment is required) and that no Conditional Access policy blocks it."
        ),
    ]


def forward_message(link: str) -> str:
    """A ready-made message a person sends to their IT admin."""
    return _(
        "Hi! I'd like to connect my work mailbox to Mailroom, our Slack inbox, but Microsoft "
        "says it needs an administrator's approval. Mailroom only asks for two permissions: "
        "reading mail over IMAP (IMAP.AccessAsUser.All) and sending mail over SMTP (SMTP.Send), "
        "for the people who sign in themselves. Could you approve it with this link, signed in "
        "as a Global Administrator?\n{link}\nThank you!"
    ).format(link=link)


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
            return _("your Microsoft 365 organisation (tenant not identified yet)")
        return _("Microsoft 365 tenant {tenant}").format(tenant=self.tenant)


def consent_overview(
    tenants: list[TenantView], *, configured: bool, general_link: str | None
) -> tuple[str, list[Block]]:
    if not configured:
        text = _(
            "Microsoft sign-in is not configured on this Mailroom server, so there is nothing "
            "to approve. A Mailroom admin can set MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET "
            "and PUBLIC_URL (see README)."
        )
        return text, [section(text)]
    blocks: list[Block] = [header(_("Microsoft admin approval"))]
    if not tenants:
        text = _(
            "No Microsoft 365 organisation is waiting for an admin's approval. When a "
            "sign-in needs it, the organisation appears here with its approval link."
        )
        blocks.append(section(text))
        if general_link:
            blocks.append(
                context(
                    _(
                        "IT admins can approve Mailroom ahead of time: <{link}|approval link>."
                    ).format(link=general_link)
                )
            )
        return text, blocks
    for view in tenants[:5]:  # 5 tenants x 8 blocks stays under Slack's 50
        waiting = [escape(a) for a in view.waiting_mailboxes] + [
            f"<@{u}>" for u in view.waiting_users
        ]
        lines = [f"*{escape(view.label)}*: {status_label(view.status)}"]
        lines.append(
            _("Waiting: {people}").format(people=", ".join(waiting))
            if waiting
            else _("Waiting: nobody right now")
        )
        if view.last_error:
            lines.append(
                _("Last answer from Microsoft: {answer}").format(answer=escape(view.last_error))
            )
        if view.checked:
            lines.append(_("Last checked: {time}").format(time=view.checked))
        blocks.append(divider())
        blocks.append(section("\n".join(lines)))
        if view.status != "granted" and not view.consent_link:
            blocks.append(section(_(ASK_ADMIN_FOR_LINK)))
        elif view.status != "granted":
            blocks.append(
                section(
                    _(
                        "*Approval link* for the tenant's admin: "
                        "<{link}|Approve Mailroom in Microsoft 365>"
                    ).format(link=view.consent_link)
                )
            )
            steps = "\n".join(f"{i}. {step}" for i, step in enumerate(entra_steps(), 1))
            blocks.append(section(_("*What the IT admin does*") + "\n" + steps))
            blocks.append(
                section(
                    _("*Message to forward to IT*")
                    + "\n```"
                    + forward_message(view.consent_link)
                    + "```"
                )
            )
        blocks.append(
            actions(
                button(_("Check again"), CHECK_ACTION, str(view.row_id)),
                block_id=f"consent_{view.row_id}",
            )
        )
    text = ngettext(
        "Microsoft admin approval: {n} organisation",
        "Microsoft admin approval: {n} organisations",
        len(tenants),
    ).format(n=len(tenants))
    return text, blocks[:50]


ASK_ADMIN_FOR_LINK = N_(
    "Only Mailroom admins get the approval link here: ask one to run `/mail-consent` and send "
    "the link to your organisation's IT admin."
)


def consent_needed_blocks(message: str, link: str) -> tuple[str, list[Block]]:
    """For the person whose sign-in needs approval: why, and what to send to IT (the link
    only for Mailroom admins; others are told who has it)."""
    text = f":large_orange_circle: {message}"
    forward = (
        section(_("*Send this to your IT admin:*") + "\n```" + forward_message(link) + "```")
        if link
        else section(_(ASK_ADMIN_FOR_LINK))
    )
    return text, [
        section(f":large_orange_circle: {escape(message)}"),
        forward,
        context(
            _(
                "You will get a message here as soon as Mailroom sees the approval. "
                "`/mail-consent` shows the status and the steps for IT."
            )
        ),
    ]


def check_result_text(label: str, status: str) -> str:
    if status == "granted":
        return ":white_check_mark: " + _(
            "Mailroom is approved for {tenant}. Waiting people have been told to finish signing in."
        ).format(tenant=label)
    return _(
        "{status} for {tenant}: Microsoft does not report an approval yet. Mailroom checks "
        "again by itself."
    ).format(status=status_label(status), tenant=label)
