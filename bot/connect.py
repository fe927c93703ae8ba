"""Connecting a mailbox by hand (IMAP/SMTP): read the modal, validate, test, save.

Logins are tested before anything is saved, so a mailbox is never stored with credentials
that do not work; each problem is reported on the modal field it belongs to.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bot.blocks.common import CHANNEL_ID_RE, channel_link
from bot.blocks.connect import BACKFILL, SECURITY, reconnected_by_other
from bot.formatting.rich_text import is_rich_text, rich_text_to_plain
from locales import N_, ContextExecutor, _, speaking
from providers import imap, smtp
from providers.errors import MailroomError, UserError
from providers.netguard import check_host_allowed
from storage.models import Mailbox, MailboxKind, Provider, utcnow

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.core import Core

ADDRESS_RE = re.compile(
    r"^[^@\s<>\"']+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
HOST_RE = re.compile(r"^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:.]+\]?$")
MEMBER_PAGES = 20  # conversations.members pages read at most (1,000 members each)
REUSE_REFUSED = N_(
    "Type the password again: Mailroom reuses the saved password only when the server, port, "
    "security and username are all unchanged."
)


class FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class ConnectForm:
    kind: str
    address: str
    sender_name: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_password: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str
    smtp_password: str
    channel_id: str
    backfill_days: int
    mailbox_id: int | None = None  # reconnecting this one
    extra: dict[str, Any] = field(default_factory=dict)

    def imap_settings(self, timeout: float) -> imap.ImapSettings:
        return imap.ImapSettings(
            host=self.imap_host,
            port=self.imap_port,
            security=self.imap_security,  # type: ignore[arg-type]
            username=self.imap_username or self.address,
            password=self.imap_password,
            timeout=timeout,
        )

    def smtp_settings(self, timeout: float) -> smtp.SmtpSettings:
        return smtp.SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            security=self.smtp_security,  # type: ignore[arg-type]
            username=self.smtp_username or self.imap_username or self.address,
            password=self.smtp_password or self.imap_password,
            timeout=timeout,
        )


def view_values(state_values: dict[str, dict[str, dict[str, Any]]]) -> dict[str, str]:
    """Flatten a view's state (block_id → action_id → element) into block_id → value."""
    flat: dict[str, str] = {}
    for block_id, elements in state_values.items():
        for element in elements.values():
            kind = element.get("type")
            if kind == "plain_text_input":
                flat[block_id] = (element.get("value") or "").strip()
            elif kind in ("static_select", "radio_buttons"):
                flat[block_id] = (element.get("selected_option") or {}).get("value", "")
            elif kind == "conversations_select":
                flat[block_id] = element.get("selected_conversation") or ""
            elif kind == "channels_select":
                flat[block_id] = element.get("selected_channel") or ""
            elif kind == "users_select":
                flat[block_id] = element.get("selected_user") or ""
            elif kind == "checkboxes":
                flat[block_id] = ",".join(o["value"] for o in element.get("selected_options") or [])
            elif kind == "rich_text_input":
                flat[block_id] = rich_text_to_plain(element.get("rich_text_value")).strip()
    return flat


def rich_values(state_values: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """block_id → the ``rich_text`` block a rich_text_input submitted (``view_values`` has
    its plain text)."""
    found: dict[str, dict[str, Any]] = {}
    for block_id, elements in state_values.items():
        for element in elements.values():
            if element.get("type") == "rich_text_input":
                value = element.get("rich_text_value")
                empty: dict[str, Any] = {"type": "rich_text", "elements": []}
                found[block_id] = value if is_rich_text(value) else empty
    return found


def _port(value: str, block: str, errors: dict[str, str]) -> int:
    try:
        port = int(value)
    except ValueError:
        errors[block] = _("Enter a port number, for example 993 for IMAP over SSL or 587 for SMTP.")
        return 0
    if not 0 < port < 65536:
        errors[block] = _("A port is a number between 1 and 65535.")
    return port


def parse_connect_form(
    values: dict[str, str],
    *,
    allowed_kinds: set[str],
    mailbox_id: int | None = None,
    has_saved_password: bool = False,
) -> ConnectForm:
    """Validate every field at once; raise FormErrors naming each bad field."""
    errors: dict[str, str] = {}
    kind = values.get("kind") or MailboxKind.PERSONAL
    if kind not in allowed_kinds:
        errors["kind"] = _("Only Mailroom admins can connect shared and marketing mailboxes.")
    address = values.get("address", "").strip().lower()
    if not ADDRESS_RE.match(address):
        errors["address"] = _("Enter a full email address, like sales@yourcompany.com.")
    for block in ("imap_host", "smtp_host"):
        host = values.get(block, "").strip()
        if not host:
            errors[block] = _(
                "Enter the server name your provider gives, like imap.yourcompany.com."
            )
        elif not HOST_RE.match(host) or len(host) > 253:
            errors[block] = _(
                "That does not look like a server name: use letters, digits, dots and dashes."
            )
    imap_port = _port(values.get("imap_port", ""), "imap_port", errors)
    smtp_port = _port(values.get("smtp_port", ""), "smtp_port", errors)
    for block in ("imap_security", "smtp_security"):
        if values.get(block) not in SECURITY:
            errors[block] = _("Choose SSL/TLS, STARTTLS or None.")
    if not values.get("imap_password") and not has_saved_password:
        errors["imap_password"] = _(
            "Enter the mailbox password (or an app password if your provider requires one)."
        )
    if not values.get("channel"):
        errors["channel"] = _("Choose the channel where this mailbox's email should appear.")
    backfill = values.get("backfill") or "0"
    if backfill not in BACKFILL:
        errors["backfill"] = _("Choose how much existing mail to bring in.")
    if errors:
        raise FormErrors(errors)
    return ConnectForm(
        kind=kind,
        address=address,
        sender_name=values.get("sender_name", "").strip(),
        imap_host=values["imap_host"].strip().strip("[]"),
        imap_port=imap_port,
        imap_security=values["imap_security"],
        imap_username=values.get("imap_username", "").strip(),
        imap_password=values.get("imap_password", ""),
        smtp_host=values["smtp_host"].strip().strip("[]"),
        smtp_port=smtp_port,
        smtp_security=values["smtp_security"],
        smtp_username=values.get("smtp_username", "").strip(),
        smtp_password=values.get("smtp_password", ""),
        channel_id=values["channel"],
        backfill_days=int(backfill),
        mailbox_id=mailbox_id,
    )


def check_channel(ctx: Core, user_id: str, channel_id: str) -> str | None:
    """Why ``user_id`` may not point a mailbox at ``channel_id`` (None: they may).

    The id comes from a Slack payload, so it is checked: a channel's form (never a user or a
    DM), a channel Slack says exists, not archived, and, for a private channel, one the
    person is in (a public one anybody may join)."""
    from slack_sdk.errors import SlackApiError

    if not CHANNEL_ID_RE.match(channel_id or ""):
        return _("Choose a channel (not a person or a direct message) from the list.")
    try:
        info = ctx.slack.client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as exc:
        if exc.response.get("error") == "channel_not_found":
            return _(
                "Mailroom cannot see that channel. For a private channel, invite Mailroom "
                "first (`/invite @Mailroom` in it), then choose it again."
            )
        log.warning("conversations.info %s failed: %s", channel_id, exc.response.get("error"))
        return _("Slack could not confirm that channel just now. Try again in a minute.")
    if info.get("is_im") or info.get("is_mpim") or info.get("user"):
        return _("Choose a channel (not a person or a direct message) from the list.")
    if info.get("is_archived"):
        return _("That channel is archived. Choose another one, or unarchive it first.")
    if info.get("is_private") or info.get("is_group"):
        members = _members(ctx, channel_id)
        if members is None:
            return _(
                "Mailroom cannot see who is in that private channel: invite Mailroom first "
                "(`/invite @Mailroom` in it), then choose it again."
            )
        if user_id not in members:
            return _("That private channel is not one you are in. Choose a channel you belong to.")
    return None


def _members(ctx: Core, channel_id: str) -> set[str] | None:
    """Who is in ``channel_id`` (None when Slack does not let Mailroom see it)."""
    from slack_sdk.errors import SlackApiError

    members: set[str] = set()
    cursor = None
    try:
        for _ in range(MEMBER_PAGES):
            page = ctx.slack.client.conversations_members(
                channel=channel_id, limit=1000, cursor=cursor
            )
            members.update(page.get("members") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except SlackApiError as exc:
        log.info("conversations.members %s failed: %s", channel_id, exc.response.get("error"))
        return None
    return members


def check_login_identity(form: ConnectForm) -> None:
    """The address a mailbox sends as must be the account it logs in with: an IMAP or SMTP
    username that is an address must be the mailbox's address (a login proves nothing
    about another address, and SES would accept any address on a verified domain)."""
    for username in (form.imap_username, form.smtp_username):
        if "@" in username and username.lower() != form.address:
            raise FormErrors(
                {
                    "address": _(
                        "The address must be the account you log in with ({username}). "
                        "Use that address, or ask a Mailroom admin to connect this one."
                    ).format(username=username)
                }
            )


def same_login(form: ConnectForm, mailbox: Mailbox, service: str) -> bool:
    """Whether ``service`` (imap/smtp) keeps the saved server, port, security and username."""

    def login(host: str, port: int, security: str, username: str, fallback: str) -> tuple:
        return (host.lower(), int(port), security, (username or fallback).lower())

    if service == "imap":
        return login(
            form.imap_host, form.imap_port, form.imap_security, form.imap_username, form.address
        ) == login(
            mailbox.imap_host,
            mailbox.imap_port,
            mailbox.imap_security,
            mailbox.imap_username,
            mailbox.address,
        )
    return login(
        form.smtp_host,
        form.smtp_port,
        form.smtp_security,
        form.smtp_username or form.imap_username,
        form.address,
    ) == login(
        mailbox.smtp_host,
        mailbox.smtp_port,
        mailbox.smtp_security,
        mailbox.smtp_username or mailbox.imap_username,
        mailbox.address,
    )


def fill_saved_passwords(ctx: Core, form: ConnectForm, mailbox: Mailbox) -> None:
    """Reconnecting without retyping: the saved password goes only to the server it was
    saved for. A changed host, port, security or username needs the password typed again,
    so nobody can make Mailroom send someone else's password to a server of their own."""
    saved = ctx.mailboxes.secrets(mailbox) if mailbox.provider == Provider.IMAP else {}
    errors: dict[str, str] = {}
    typed_imap = bool(form.imap_password)
    if not typed_imap:
        if saved.get("imap_password") and same_login(form, mailbox, "imap"):
            form.imap_password = saved["imap_password"]
        else:
            errors["imap_password"] = _(REUSE_REFUSED)
    if not form.smtp_password and not typed_imap:
        # Without its own password, SMTP would log in with the (saved) IMAP password.
        if same_login(form, mailbox, "smtp") and (
            saved.get("smtp_password") or "imap_password" not in errors
        ):
            form.smtp_password = saved.get("smtp_password", "")
        else:
            errors["smtp_password"] = _(REUSE_REFUSED)
    if errors:
        raise FormErrors(errors)


def check_submission(
    ctx: Core, form: ConnectForm, user_id: str, team_id: str, existing: Mailbox | None
) -> None:
    """Everything about a connect-modal submission that needs no mail server: one mailbox
    per person, the address is the login (non-admins), saved passwords only for the server
    they were saved for, and a channel the person may use. Raises FormErrors."""
    check_duplicates(ctx, form, user_id, team_id)
    if not ctx.roles.is_admin(user_id):
        check_login_identity(form)
    if existing is not None:
        fill_saved_passwords(ctx, form, existing)
    kept = existing is not None and form.channel_id == existing.channel_id
    # A reconnect keeping its (well-formed) channel is not asked again: an admin fixing
    # someone's mailbox need not be in its private channel.
    if not (kept and CHANNEL_ID_RE.match(form.channel_id)):
        refusal = check_channel(ctx, user_id, form.channel_id)
        if refusal:
            raise FormErrors({"channel": refusal})


def check_duplicates(ctx: Core, form: ConnectForm, user_id: str, team_id: str) -> None:
    existing = ctx.mailboxes.find_existing(team_id, form.kind, user_id)
    if existing is None or existing.id == form.mailbox_id:
        return
    if form.kind == MailboxKind.PERSONAL:
        raise FormErrors(
            {
                "kind": _(
                    "You already have a personal mailbox ({address}). "
                    "Each person connects one; reconnect it from /mail-status instead."
                ).format(address=existing.address)
            }
        )
    raise FormErrors(
        {
            "kind": _(
                "This workspace already has a shared sales mailbox ({address}). "
                "There is one per workspace; reconnect it from /mail-status instead."
            ).format(address=existing.address)
        }
    )


def examine_submission(
    ctx: Core, form: ConnectForm, user_id: str, team_id: str, existing: Mailbox | None
) -> dict[str, str]:
    """The submission's checks, then the login test: field errors, empty when the mailbox
    may be saved. One call, so the listener can bound all of it by Slack's ack window (the
    checks ask Slack and the database, which a loaded machine can make slow too)."""
    try:
        check_submission(ctx, form, user_id, team_id, existing)
    except FormErrors as exc:
        return exc.errors
    return test_connection(ctx, form)


def test_connection(ctx: Core, form: ConnectForm) -> dict[str, str]:
    """Check hosts are allowed, then log in to IMAP and SMTP in parallel.

    Returns field errors (empty when both logins worked). Each login has its own bounded
    timeout, so this returns within about one timeout whatever the servers do.
    """
    allowed = ctx.settings.mailroom_allowed_private_hosts
    timeout = min(ctx.settings.imap_timeout_seconds, 15.0)
    errors: dict[str, str] = {}
    # Resolved once: the logins go to the checked addresses (DNS rebinding).
    addresses: dict[str, tuple[str, ...]] = {}
    for host, port, block in (
        (form.imap_host, form.imap_port, "imap_host"),
        (form.smtp_host, form.smtp_port, "smtp_host"),
    ):
        try:
            checked = check_host_allowed(
                host,
                port,
                allowed,
                field=block,
                nameservers=ctx.settings.mail_dns_nameservers,
                timeout=timeout,
            )
            addresses[block] = checked.addresses
        except UserError as exc:
            errors[exc.field or block] = exc.message
    if errors:
        return errors
    imap_settings = replace(form.imap_settings(timeout), addresses=addresses["imap_host"])
    smtp_settings = replace(form.smtp_settings(timeout), addresses=addresses["smtp_host"])
    # ContextExecutor: the logins' error sentences are in the language of this request.
    with ContextExecutor(2) as pool:
        imap_check = pool.submit(imap.check_login, imap_settings)
        smtp_check = pool.submit(smtp.check_login, smtp_settings)
        for future, default in ((imap_check, "imap_host"), (smtp_check, "smtp_host")):
            try:
                future.result()
            except MailroomError as exc:
                errors.setdefault(exc.field or default, exc.message)
    return errors


def save_mailbox(ctx: Core, form: ConnectForm, user_id: str, team_id: str) -> Mailbox:
    """Create the mailbox, or update the one being reconnected, with encrypted secrets (then
    ``ctx.lifecycle.connected`` starts it over)."""
    secrets = {"imap_password": form.imap_password}
    if form.smtp_password:
        secrets["smtp_password"] = form.smtp_password
    with ctx.db.session() as session:
        mailbox = session.get(Mailbox, form.mailbox_id) if form.mailbox_id else None
        if mailbox is None:
            mailbox = Mailbox(
                team_id=team_id, kind=form.kind, owner_id=user_id, address=form.address
            )
        elif mailbox.address.lower() != form.address:
            # A new address is not covered by what was checked for the old one: SES sending
            # (and any admin pin) starts again from the mailbox's own SMTP server.
            mailbox.send_via, mailbox.ses_pinned_address = "smtp", None
        mailbox.kind, mailbox.address, mailbox.sender_name = (
            form.kind,
            form.address,
            form.sender_name,
        )
        mailbox.provider = Provider.IMAP
        mailbox.imap_host, mailbox.imap_port = form.imap_host, form.imap_port
        mailbox.imap_security, mailbox.imap_username = form.imap_security, form.imap_username
        mailbox.smtp_host, mailbox.smtp_port = form.smtp_host, form.smtp_port
        mailbox.smtp_security, mailbox.smtp_username = form.smtp_security, form.smtp_username
        mailbox.channel_id, mailbox.backfill_days = form.channel_id, form.backfill_days
        mailbox.secrets = ctx.mailboxes.seal(secrets)
        mailbox.updated_at = utcnow()
        session.add(mailbox)
    return mailbox


def join_channel(ctx: Core, channel_id: str) -> str | None:
    """Join the mailbox's channel; None when done, else how to invite the bot."""
    from slack_sdk.errors import SlackApiError

    try:
        ctx.slack.client.conversations_join(channel=channel_id)
        return None
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in ("method_not_supported_for_channel_type", "channel_not_found", "is_private"):
            return _(
                "{channel} is private, so Mailroom cannot join it by itself: "
                "type `/invite @Mailroom` in that channel, and mail will start appearing there."
            ).format(channel=channel_link(channel_id))
        return _(
            "Mailroom could not join {channel} ({error}). Invite it with `/invite @Mailroom`."
        ).format(channel=channel_link(channel_id), error=error)


def tell_owner_of_reconnect(ctx: Core, before: Mailbox, after: Mailbox, actor: str) -> None:
    """The owner hears when someone else (an admin) reconnects their mailbox."""
    from slack_sdk.errors import SlackApiError

    if not before.owner_id or before.owner_id == actor:
        return
    try:
        # A DM to the owner: in the owner's language, not the admin's.
        with speaking(ctx.languages.of(before.owner_id)):
            text = reconnected_by_other(before, after, actor)
        ctx.slack.dm(before.owner_id, text)
    except SlackApiError as exc:
        log.warning(
            "could not tell %s of a reconnect: %s", before.owner_id, exc.response.get("error")
        )
