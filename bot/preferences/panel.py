"""The settings panel: status and visibility of each mailbox, and App Home.

*Active* means a mailbox may sync and send; inactive sends nothing (ReplyService refuses the
reply before anything is queued). *Visible* means it is offered in pickers; hidden mailboxes
are listed only to admins (``Roles.can_see``). Separately, a mailbox is *functional* when
nothing stops it from working: its last login worked, its sender address is verified and
Microsoft consent is not missing. App Home shows all of this per person and is published
again for everyone concerned whenever a mailbox changes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import func
from sqlmodel import col, select

from bot.blocks.home import HomePanel, MailboxPanel
from bot.senders.domains import latest_verdicts
from locales import _
from storage.models import (
    ConsentTenant,
    Health,
    Mailbox,
    MailboxKind,
    Role,
    SenderVerification,
    User,
)

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)

HOME_REFRESH_JOB = "home-refresh"


# --- Status ---------------------------------------------------------------------------------


def mailbox_changed(ctx: AppContext, mailbox_id: int) -> None:
    """Run every ``ctx.events.mailbox_changed`` listener (App Home refresh and any other feature's)."""
    ctx.events.mailbox_changed.emit(mailbox_id)


def problems_of(ctx: AppContext, mailbox: Mailbox) -> list[str]:
    """Why the mailbox is not functional (empty when it works)."""
    problems: list[str] = []
    if mailbox.health == Health.ADMIN_APPROVAL_NEEDED:
        problems.append(
            _(
                "Microsoft consent missing: an admin of the organisation must approve "
                "Mailroom (run `/mail-consent`)."
            )
        )
    elif mailbox.health == Health.RECONNECT_NEEDED:
        problems.append(_("Sign-in expired or revoked: press Reconnect."))
    elif mailbox.health == Health.NEEDS_ATTENTION:
        problems.append(
            _("Failed login or sync: {error}").format(error=mailbox.last_error)
            if mailbox.last_error
            else _("Failed login or sync: see /mail-status")
        )
    verification = _verification(ctx, mailbox)
    if verification is not None and verification.status in ("FAILED", "EXPIRED"):
        problems.append(
            _("Sender not verified (failed): start again with `/mail-verify`.")
            if verification.status == "FAILED"
            else _("Sender not verified (expired): start again with `/mail-verify`.")
        )
    elif mailbox.send_via == "ses" and (verification is None or verification.status != "SUCCESS"):
        # Sending through SES needs the address verified first; SMTP mailboxes do not.
        problems.append(
            _(
                "Sender not verified yet: replies go out through AWS SES, which needs "
                "the address verified with `/mail-verify`."
            )
        )
    return problems


def pending_of(ctx: AppContext, mailbox: Mailbox) -> list[str]:
    pending: list[str] = []
    verification = _verification(ctx, mailbox)
    if verification is not None and verification.status not in ("SUCCESS", "FAILED", "EXPIRED"):
        pending.append(
            _(
                "Sender verification pending for {identity}: click the link "
                "in the mail from no-reply-aws@amazon.com."
            ).format(identity=verification.identity)
        )
    if mailbox.ms_tenant:
        with ctx.db.session() as session:
            consent = session.exec(
                select(ConsentTenant).where(
                    ConsentTenant.team_id == mailbox.team_id,
                    ConsentTenant.tenant == mailbox.ms_tenant,
                )
            ).first()
        if consent is not None and consent.status != "granted":
            pending.append(
                _("Microsoft admin consent {status} for {tenant}.").format(
                    status=consent.status, tenant=consent.tenant
                )
            )
    return pending


def _verification(ctx: AppContext, mailbox: Mailbox) -> SenderVerification | None:
    with ctx.db.session() as session:
        return session.exec(
            select(SenderVerification)
            .where(
                SenderVerification.team_id == mailbox.team_id,
                func.lower(SenderVerification.identity) == mailbox.address.lower(),
            )
            .order_by(col(SenderVerification.id).desc())
        ).first()


# --- App Home -------------------------------------------------------------------------------


def home_panel(ctx: AppContext, user_id: str, team_id: str) -> HomePanel:
    from bot.preferences.contacts import patterns_of
    from bot.preferences.footers import load_footer

    is_admin = ctx.roles.is_admin(user_id)
    own: list[MailboxPanel] = []
    workspace: list[MailboxPanel] = []
    for mailbox in ctx.mailboxes.all(team_id or None):
        if mailbox.kind == MailboxKind.PERSONAL:
            if mailbox.owner_id != user_id:
                continue  # others' personal mailboxes stay in /mail-status (admins)
        elif not ctx.roles.can_see(user_id, mailbox):
            continue
        panel = MailboxPanel(
            mailbox=mailbox,
            can_manage=ctx.roles.can_manage(user_id, mailbox),
            problems=problems_of(ctx, mailbox),
            pending=pending_of(ctx, mailbox),
            footer_set=load_footer(ctx, mailbox.team_id, mailbox.id) is not None,
            contacts=len(patterns_of(ctx, mailbox.id)),  # type: ignore[arg-type]
            sync_line=_sync_line(ctx, mailbox),
        )
        (own if mailbox.kind == MailboxKind.PERSONAL else workspace).append(panel)
    verdicts = latest_verdicts(ctx.db, team_id) if is_admin else []
    return HomePanel(
        user_id=user_id, is_admin=is_admin, own=own, workspace=workspace, verdicts=verdicts
    )


def _sync_line(ctx: AppContext, mailbox: Mailbox) -> str:
    describe = ctx.sync_mode_line
    return describe(mailbox) if describe else ""


def home_view(ctx: AppContext, user_id: str, team_id: str) -> dict[str, Any]:
    """``ctx.home_view``: the App Home tab of one person."""
    from bot.blocks.home import home_view as build

    return build(home_panel(ctx, user_id, team_id))


def audience(ctx: AppContext, mailbox: Mailbox) -> list[str]:
    """Everyone whose App Home may list this mailbox, before or after a change: the owner of
    a personal one; for shared and marketing ones every admin and sales user (hiding it must
    refresh the homes it disappears from). Only people Mailroom knows can have opened App Home."""
    if mailbox.kind == MailboxKind.PERSONAL:
        return [mailbox.owner_id]
    with ctx.db.session() as session:
        known = [
            u.id
            for u in session.exec(select(User).where(col(User.team_id).in_([mailbox.team_id, ""])))
        ]
    candidates = dict.fromkeys([mailbox.owner_id, *ctx.settings.mailroom_admins, *known])
    return [u for u in candidates if ctx.roles.role_of(u) in (Role.ADMIN, Role.SALES)]


def refresh_homes(ctx: AppContext, mailbox_id: int) -> int:
    """Publish App Home again for everyone who sees the mailbox; returns how many."""
    from bot.status import publish_home

    # Also a removed one: the people who saw it get a tab without it.
    mailbox = ctx.mailboxes.get_even_removed(mailbox_id)
    if mailbox is None:
        return 0
    published = 0
    for user_id in audience(ctx, mailbox):
        try:
            publish_home(ctx, user_id, mailbox.team_id)
            published += 1
        except SlackApiError as exc:
            log.info("App Home refresh for %s failed: %s", user_id, exc.response.get("error"))
    return published


def schedule_refresh(ctx: AppContext, mailbox_id: int) -> None:
    """``ctx.events.mailbox_changed`` listener: refresh in the background, so the click that changed
    something is answered at once; a burst of changes to one mailbox coalesces."""
    if not ctx.scheduler.running:
        refresh_homes(ctx, mailbox_id)
        return
    ctx.scheduler.once(
        f"{HOME_REFRESH_JOB}:{mailbox_id}", refresh_homes, ctx, mailbox_id, delay=0.2
    )


def admin_audience(ctx: AppContext, team_id: str) -> list[str]:
    """The admins whose App Home lists the workspace's domain verdicts."""
    with ctx.db.session() as session:
        known = [
            u.id for u in session.exec(select(User).where(col(User.team_id).in_([team_id, ""])))
        ]
    candidates = dict.fromkeys([*ctx.settings.mailroom_admins, *known])
    return [u for u in candidates if ctx.roles.role_of(u) == Role.ADMIN]


def refresh_admin_homes(ctx: AppContext, team_id: str) -> int:
    """Publish App Home again for every admin (a domain's latest DNS verdict changed)."""
    from bot.status import publish_home

    published = 0
    for user_id in admin_audience(ctx, team_id):
        try:
            publish_home(ctx, user_id, team_id)
            published += 1
        except SlackApiError as exc:
            log.info("App Home refresh for %s failed: %s", user_id, exc.response.get("error"))
    return published


def schedule_admin_refresh(ctx: AppContext, team_id: str, domain: str) -> None:
    """``ctx.events.domain_checked`` listener: a new DNS report was stored (by /dkim-check, its buttons
    or a watch); admins' homes show it, refreshed in the background and coalesced."""
    if not ctx.scheduler.running:
        refresh_admin_homes(ctx, team_id)
        return
    ctx.scheduler.once(
        f"{HOME_REFRESH_JOB}:domains:{team_id}", refresh_admin_homes, ctx, team_id, delay=0.2
    )


class HealthWatcher:
    """Refreshes App Home when a mailbox's state changes outside a Slack click: a sync
    that fails or recovers, a new mailbox connected, a verification that completes.

    It compares a small fingerprint per mailbox once per sync interval (one query), so a
    health change shows up at most one interval later, and nothing is published when
    nothing changed.
    """

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.seen: dict[int, tuple[Any, ...]] | None = None

    def fingerprints(self) -> dict[int, tuple[Any, ...]]:
        with self.ctx.db.session() as session:
            verifications = {
                (v.team_id, v.identity.lower()): v.status
                for v in session.exec(select(SenderVerification))
            }
        return {
            m.id: (
                m.health,
                m.active,
                m.visible,
                m.channel_id,
                m.last_error,
                m.sync_mode,
                verifications.get((m.team_id, m.address.lower())),
            )
            for m in self.ctx.mailboxes.all()
            if m.id is not None
        }

    def check(self) -> list[int]:
        """Refresh the homes of changed mailboxes; returns their ids."""
        current = self.fingerprints()
        previous, self.seen = self.seen, current
        if previous is None:
            return []  # first look after start: nothing to compare with yet
        changed = [mid for mid, print_ in current.items() if previous.get(mid) != print_]
        for mailbox_id in changed:
            refresh_homes(self.ctx, mailbox_id)
        return changed

    def start(self, ctx: AppContext) -> None:
        self.check()
        ctx.scheduler.every(
            HOME_REFRESH_JOB,
            max(1, ctx.settings.sync_interval_seconds),
            self.check,
            first_in=max(1, ctx.settings.sync_interval_seconds),
        )


# --- "Which mailbox" for commands -------------------------------------------------------------
