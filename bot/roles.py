"""Who may do what.

Admin = the workspace's Slack admins and owners (read from users.info, cached for a few
minutes) + MAILROOM_ADMINS + people granted admin with /mail-role. Sales = granted with
/mail-role. Everyone else may connect a personal mailbox and use their own.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from bot.slack_client import Slack
from locales import N_, _
from providers.errors import UserError
from storage.db import Database
from storage.models import Mailbox, MailboxKind, Role, User, utcnow

if TYPE_CHECKING:
    from bot.mailboxes import Mailboxes
    from bot.settings import Settings

log = logging.getLogger(__name__)

PROFILE_TTL = timedelta(minutes=10)
# require_admin's refusal, one whole sentence per action (translated as a whole).
ADMIN_ONLY: dict[str, str] = {
    "check a domain's DKIM, SPF and DMARC": N_(
        "Only Mailroom admins can check a domain's DKIM, SPF and DMARC. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "set up DKIM with Amazon SES": N_(
        "Only Mailroom admins can set up DKIM with Amazon SES. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "watch a domain": N_(
        "Only Mailroom admins can watch a domain. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "stop watching a domain": N_(
        "Only Mailroom admins can stop watching a domain. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "verify sender addresses": N_(
        "Only Mailroom admins can verify sender addresses. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "grant or revoke roles": N_(
        "Only Mailroom admins can grant or revoke roles. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "see the suppression list": N_(
        "Only Mailroom admins can see the suppression list. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "remove addresses from the suppression list": N_(
        "Only Mailroom admins can remove addresses from the suppression list. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "change a mailbox's sending limits": N_(
        "Only Mailroom admins can change a mailbox's sending limits. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "edit the workspace's default footer": N_(
        "Only Mailroom admins can edit the workspace's default footer. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "manage workspace templates": N_(
        "Only Mailroom admins can manage workspace templates. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "choose a channel's language": N_(
        "Only Mailroom admins can choose a channel's language. Ask a workspace admin, or someone "
        "listed in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "choose how a mailbox sends": N_(
        "Only Mailroom admins can choose how a mailbox sends. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
    "confirm sending from a domain that fails its checks": N_(
        "Only Mailroom admins can confirm sending from a domain that fails its checks. Ask a workspace admin, or someone listed "
        "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
    ),
}


class Roles:
    def __init__(self, db: Database, slack: Slack, extra_admins: list[str]) -> None:
        self.db = db
        self.slack = slack
        self.extra_admins = set(extra_admins)

    def user(self, user_id: str, team_id: str = "") -> User:
        """The stored user, refreshed from users.info when stale.

        Two first requests from a new person arrive at once: the row is written with one
        atomic upsert, so neither trips over the other's insert.
        """
        with self.db.session() as session:
            user = session.get(User, user_id)
        if user is not None and user.refreshed_at and utcnow() - user.refreshed_at < PROFILE_TTL:
            return user
        # Asked outside any transaction: no database lock is held while Slack answers.
        profile = self._profile(user_id)
        with self.db.session() as session:
            session.exec(_upsert_user(session, user_id, team_id, profile))
            stored = session.get(User, user_id, populate_existing=True)
            assert stored is not None
            return stored

    def _profile(self, user_id: str) -> dict[str, Any] | None:
        """Fresh profile columns from users.info, or None when Slack cannot tell us now."""
        try:
            info = self.slack.client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            # Keep the cached answer when Slack cannot tell us now.
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            return None
        profile = info.get("profile") or {}
        return {
            "is_workspace_admin": bool(
                info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner")
            ),
            "name": profile.get("real_name")
            or info.get("real_name")
            or info.get("name")
            or user_id,
            "email": profile.get("email"),
            "team_id": info.get("team_id", ""),
            "refreshed_at": utcnow(),
        }

    def role_of(self, user_id: str) -> Role:
        user = self.user(user_id)
        if user.is_workspace_admin or user_id in self.extra_admins or user.role == Role.ADMIN:
            return Role.ADMIN
        return Role(user.role) if user.role in Role._value2member_map_ else Role.NONE

    def is_admin(self, user_id: str) -> bool:
        return self.role_of(user_id) == Role.ADMIN

    def require_admin(self, user_id: str, action: str) -> None:
        if not self.is_admin(user_id):
            known = ADMIN_ONLY.get(action)
            if known is not None:
                raise UserError(_(known))
            raise UserError(
                _(
                    # An action not listed above: the sentence with its English words.
                    "Only Mailroom admins can {action}. Ask a workspace admin, or someone listed "
                    "in MAILROOM_ADMINS, to do it or to grant you admin with `/mail-role`."
                ).format(action=action)
            )

    def require_campaigns(self, user_id: str) -> None:
        """Campaigns, audiences and templates are for admins and the marketing role."""
        if self.role_of(user_id) not in (Role.ADMIN, Role.MARKETING):
            raise UserError(
                _(
                    "Campaigns, audiences and templates are for Mailroom admins and people with "
                    "the marketing role. Ask an admin to run `/mail-role @you marketing`."
                )
            )

    def grant(self, user_id: str, role: Role, team_id: str = "") -> User:
        user = self.user(user_id, team_id)
        with self.db.session() as session:
            user = session.get(User, user_id) or user
            user.role = role
            session.add(user)
        return user

    # --- Mailbox permissions --------------------------------------------------------------

    def can_see(self, user_id: str, mailbox: Mailbox) -> bool:
        """Whether the mailbox is listed for this user (pickers, /mail-status, App Home)."""
        if self.is_admin(user_id):
            return True
        if mailbox.kind == MailboxKind.PERSONAL:
            return mailbox.owner_id == user_id
        if not mailbox.visible:
            return False
        if mailbox.kind == MailboxKind.MARKETING:
            return self.role_of(user_id) == Role.MARKETING
        return mailbox.kind == MailboxKind.SHARED and self.role_of(user_id) == Role.SALES

    def can_manage(self, user_id: str, mailbox: Mailbox) -> bool:
        """Edit settings, footer, pause/resume: owners their personal one, admins the rest."""
        if mailbox.kind == MailboxKind.PERSONAL and mailbox.owner_id == user_id:
            return True
        return self.is_admin(user_id)

    def reply_refusal(self, user_id: str, mailbox: Mailbox) -> str | None:
        """None when the user may answer customers from this mailbox, else why not."""
        if mailbox.kind == MailboxKind.MARKETING:
            return _(
                "{address} is a marketing mailbox: it is used only for bulk sending "
                "and never sends replies. Answer from a personal or shared mailbox instead."
            ).format(address=mailbox.address)
        if mailbox.kind == MailboxKind.PERSONAL:
            if mailbox.owner_id != user_id:
                return _(
                    "{address} is <@{owner}>'s personal mailbox: only they "
                    "can reply from it. Your message stays here as an internal note."
                ).format(address=mailbox.address, owner=mailbox.owner_id)
            return None
        if self.role_of(user_id) in (Role.SALES, Role.ADMIN):
            return None
        return _(
            "Replies from the shared mailbox {address} are for sales and admin users. "
            "Ask an admin to run `/mail-role @you sales`. Your message stays here as an internal note."
        ).format(address=mailbox.address)


def _upsert_user(
    session: Session, user_id: str, team_id: str, profile: dict[str, Any] | None
) -> Any:
    """INSERT … ON CONFLICT for the dialect in use (SQLite and PostgreSQL share the syntax).

    A granted role is never touched; a known email or team id is not blanked by a profile
    that lacks one.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values: dict[str, Any] = {"id": user_id, "team_id": team_id, "name": "", "role": Role.NONE}
    values["is_workspace_admin"] = False
    if profile is not None:
        values.update(profile, team_id=team_id or profile["team_id"])
    statement = insert(User).values(**values)
    if profile is None:
        return statement.on_conflict_do_nothing(index_elements=["id"])
    table, new = User.__table__.c, statement.excluded  # type: ignore[attr-defined]
    return statement.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "is_workspace_admin": new.is_workspace_admin,
            "name": new.name,
            "email": func.coalesce(new.email, table.email),
            "team_id": func.coalesce(func.nullif(table.team_id, ""), new.team_id),
            "refreshed_at": new.refreshed_at,
        },
    )


def mailboxes_for(
    roles: Roles, mailboxes: Mailboxes, user_id: str, team_id: str, *, manage: bool
) -> list[Mailbox]:
    """The mailboxes a person may see (or manage): what every picker offers them."""
    allowed = roles.can_manage if manage else roles.can_see
    return [m for m in mailboxes.all(team_id or None) if allowed(user_id, m)]


def who_fixes(settings: Settings, mailbox: Mailbox) -> list[str]:
    """Who fixes this mailbox: its owner (personal) or the admins (shared, marketing)."""
    if mailbox.kind == MailboxKind.PERSONAL:
        return [mailbox.owner_id]
    if settings.mailroom_admin_channel:
        return [settings.mailroom_admin_channel]
    return sorted(set(settings.mailroom_admins) | {mailbox.owner_id})


def choose_mailbox(
    roles: Roles,
    mailboxes: Mailboxes,
    user_id: str,
    team_id: str,
    *,
    address: str | None = None,
    channel_id: str | None = None,
    manage: bool = False,
) -> Mailbox:
    """The mailbox a command is about: the one named with ``mailbox:<address>``, else the one
    whose channel the command was typed in, else the person's only one."""
    options = mailboxes_for(roles, mailboxes, user_id, team_id, manage=manage)
    if address:
        for mailbox in options:
            if mailbox.address.lower() == address.lower():
                return mailbox
        refusal = (
            _("{address} is not a mailbox you can manage here.")
            if manage
            else _("{address} is not a mailbox you can use here.")
        )
        raise UserError(refusal.format(address=address) + " " + _choices(options))
    if channel_id:
        for mailbox in options:
            if mailbox.channel_id == channel_id:
                return mailbox
    if len(options) == 1:
        return options[0]
    if not options:
        raise UserError(
            _(
                "There is no mailbox you can manage yet. Connect one with `/mail-connect` "
                "(admins manage shared and marketing mailboxes)."
            )
            if manage
            else _(
                "There is no mailbox you can use yet. Connect one with `/mail-connect` "
                "(admins manage shared and marketing mailboxes)."
            )
        )
    raise UserError(
        _(
            "Say which mailbox: run the command in the mailbox's channel, or add "
            "`mailbox:<address>`."
        )
        + " "
        + _choices(options)
    )


def _choices(options: list[Mailbox]) -> str:
    if not options:
        return _("You have none yet: connect one with `/mail-connect`.")
    return _("Yours: {addresses}.").format(addresses=", ".join(m.address for m in options[:10]))
