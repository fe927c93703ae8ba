"""Microsoft admin consent: which tenants wait, the approval link, and noticing approval.

A tenant row (``ConsentTenant``) is keyed by workspace and tenant: the tenant GUID when a
mailbox told us (its ID token's ``tid``), a configured single tenant, or ``organizations``
when a first sign-in failed before Microsoft said who the person belongs to. Approval is
noticed three ways: the admin-consent redirect, a person's successful sign-in, and a
scheduled re-check (a waiting mailbox's refresh token, or an app-only token probe).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from bot.blocks.signin import TenantView, granted_blocks
from bot.blocks.status import when
from bot.mailboxes import not_removed
from bot.roles import who_fixes
from bot.signin import config, states
from bot.signin.notices import config_fault, dm, send_once
from locales import _, speaking
from providers import microsoft
from providers.signin_errors import FailureKind, SignInFailure, StateProblem
from storage.models import ConsentTenant, Health, Mailbox, Provider, saved_id, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.core import Core

log = logging.getLogger(__name__)

GRANTED, NEEDED, DECLINED, UNKNOWN = "granted", "needed", "declined", "unknown"


@dataclass
class Landing:
    """What the browser page says after the admin-consent redirect."""

    ok: bool
    title: str
    message: str


def _not_approved(declined: bool, code: str) -> str:
    """Why the admin-consent redirect came back without an approval, in the current language."""
    if declined:
        return _(
            "The approval was declined (Microsoft code {code}), so Mailroom is still not "
            "approved for this organisation. An administrator can open the approval link again "
            "from `/mail-consent` in Slack."
        ).format(code=code)
    return _(
        "Microsoft did not complete the approval (Microsoft code {code}), so Mailroom is still "
        "not approved for this organisation. An administrator can open the approval link again "
        "from `/mail-consent` in Slack."
    ).format(code=code)


def _users(row: ConsentTenant) -> list[str]:
    return [u for u in row.waiting_users.split(",") if u]


class Consent:
    def __init__(self, ctx: Core, sync_now: Callable[[int], None]) -> None:
        self.ctx = ctx
        # Sync a mailbox soon, wherever it is owned (bot.jobs): after an approval.
        self.sync_now = sync_now

    @property
    def config(self) -> microsoft.MicrosoftConfig:
        return config.microsoft_config(self.ctx.settings)

    def tenant_for(self, known: str | None) -> str:
        """The tenant a failed sign-in belongs to: known, configured, else ``organizations``."""
        if known:
            return known
        configured = self.ctx.settings.microsoft_tenant
        return (
            configured
            if configured and configured not in microsoft.GENERIC_TENANTS
            else "organizations"
        )

    # --- Rows -----------------------------------------------------------------------------

    def _row(self, team_id: str, tenant: str) -> ConsentTenant:
        self.ctx.db.insert_once(ConsentTenant(team_id=team_id, tenant=tenant, status=UNKNOWN))
        with self.ctx.db.session() as session:
            return session.exec(
                select(ConsentTenant).where(
                    ConsentTenant.team_id == team_id, ConsentTenant.tenant == tenant
                )
            ).one()

    def rows(self, team_id: str) -> list[ConsentTenant]:
        with self.ctx.db.session() as session:
            return list(
                session.exec(
                    select(ConsentTenant)
                    .where(ConsentTenant.team_id == team_id)
                    .order_by(col(ConsentTenant.id))
                )
            )

    def get(self, row_id: int) -> ConsentTenant | None:
        with self.ctx.db.session() as session:
            return session.get(ConsentTenant, row_id)

    def _update(self, row_id: int, **fields: object) -> ConsentTenant:
        with self.ctx.db.session() as session:
            row = session.get(ConsentTenant, row_id)
            assert row is not None
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.add(row)
            return row

    def record_waiting(
        self, team_id: str, tenant: str, *, user_id: str | None, code: str = ""
    ) -> ConsentTenant:
        """A sign-in or refresh needs approval in ``tenant``: remember who waits on it."""
        row = self._row(team_id, tenant)
        users = _users(row)
        if user_id and user_id not in users:
            users.append(user_id)
        # "declined" stays declined (IT said no) until an approval is seen.
        status = DECLINED if row.status == DECLINED else NEEDED
        return self._update(
            saved_id(row),
            status=status,
            waiting_users=",".join(users),
            last_error=code or row.last_error,
        )

    def waiting_mailboxes(self, row: ConsentTenant) -> list[Mailbox]:
        with self.ctx.db.session() as session:
            query = select(Mailbox).where(
                Mailbox.team_id == row.team_id,
                Mailbox.provider == Provider.MICROSOFT,
                Mailbox.health == Health.ADMIN_APPROVAL_NEEDED,
                not_removed(),
            )
            mailboxes = list(session.exec(query))
        return [m for m in mailboxes if self.tenant_for(m.ms_tenant) == row.tenant]

    def link(self, team_id: str, tenant: str, user_id: str) -> str:
        state = states.create(
            self.ctx.db,
            provider=config.MICROSOFT,
            purpose=states.ADMIN_CONSENT,
            team_id=team_id,
            user_id=user_id,
            tenant=tenant,
        )
        return microsoft.admin_consent_url(self.config, tenant=tenant, state=state.state)

    def link_for(self, team_id: str, tenant: str, user_id: str) -> str:
        """The approval link as /mail-consent shows it: to Mailroom admins only ("" for anyone
        else). The person whose own sign-in needs approval gets one in their notice."""
        return self.link(team_id, tenant, user_id) if self.ctx.roles.is_admin(user_id) else ""

    def overview(self, team_id: str, user_id: str) -> list[TenantView]:
        views = []
        for row in self.rows(team_id):
            waiting = self.waiting_mailboxes(row)
            link = self.link_for(team_id, row.tenant, user_id) if row.status != GRANTED else ""
            views.append(
                TenantView(
                    row_id=saved_id(row),
                    tenant=row.tenant,
                    status=row.status,
                    consent_link=link,
                    waiting_mailboxes=[m.address for m in waiting],
                    waiting_users=_users(row),
                    last_error=row.last_error if row.status != GRANTED else None,
                    checked=when(row.checked_at) if row.checked_at else "",
                )
            )
        return views

    # --- Approval seen --------------------------------------------------------------------

    def granted(self, row_id: int) -> ConsentTenant:
        """Mark approved and tell everyone waiting to finish signing in (once each)."""
        row = self._update(row_id, status=GRANTED, last_error=None, checked_at=utcnow())
        view = TenantView(row_id=row_id, tenant=row.tenant, status=GRANTED, consent_link="")
        stamp = row.updated_at.isoformat()
        for mailbox in self.waiting_mailboxes(row):
            for recipient in who_fixes(self.ctx.settings, mailbox):
                # Each recipient reads it in their own language (the label too).
                with speaking(self.ctx.languages.for_recipient(recipient)):
                    text, blocks = granted_blocks(view.label, mailbox)
                send_once(
                    self.ctx,
                    f"consent-granted:{row_id}:{stamp}:{mailbox.id}:{recipient}",
                    recipient,
                    text,
                    blocks,
                )
            # The refresh token may work again now; a sync tells, and clears the health.
            self.sync_now(saved_id(mailbox))
        for user in _users(row):
            with speaking(self.ctx.languages.for_recipient(user)):
                text, blocks = granted_blocks(view.label, None)
            send_once(self.ctx, f"consent-granted:{row_id}:{stamp}:{user}", user, text, blocks)
        return self._update(row_id, waiting_users="")

    def signed_in(self, team_id: str, tenant_id: str | None, user_id: str) -> None:
        """A successful sign-in proves approval in its tenant; the person waits no more."""
        for row in self.rows(team_id):
            users = _users(row)
            mine = row.tenant in (tenant_id, "organizations")
            if mine and user_id in users:
                users.remove(user_id)
                row = self._update(saved_id(row), waiting_users=",".join(users))
            if tenant_id and row.tenant == tenant_id and row.status != GRANTED:
                self._update(saved_id(row), status=GRANTED, last_error=None, checked_at=utcnow())

    def landed(self, params: dict[str, str]) -> Landing:
        """The admin-consent redirect: state first, then ``error`` (Microsoft sends
        ``admin_consent=True`` even on failure), only then the approval."""
        try:
            state = states.consume(
                self.ctx.db,
                params.get("state", ""),
                provider=config.MICROSOFT,
                purpose=states.ADMIN_CONSENT,
            )
        except StateProblem as problem:
            return Landing(False, _("Link not valid"), problem.message)
        row = self._row(state.team_id, state.tenant or "organizations")
        if params.get("error"):
            failure = microsoft.redirect_failure(params)
            declined = (
                failure.kind == FailureKind.CANCELLED
                or failure.code == "AADSTS65004"
                or params.get("error") == "access_denied"
            )
            self._update(
                saved_id(row),
                status=DECLINED if declined else NEEDED,
                last_error=failure.code,
                checked_at=utcnow(),
            )
            with speaking(self.ctx.languages.for_recipient(state.user_id)):
                dm(self.ctx, state.user_id, ":x: " + _not_approved(declined, failure.code))
            return Landing(False, _("Not approved"), _not_approved(declined, failure.code))
        if params.get("admin_consent", "").lower() != "true":
            return Landing(
                False,
                _("Not approved"),
                _(
                    "Microsoft did not confirm the approval. Open the approval link again "
                    "from `/mail-consent` in Slack."
                ),
            )
        # Anyone can type ``admin_consent=True`` into this URL: ask Microsoft itself, with an
        # app-only token request in the tenant (issued only once Mailroom is approved there).
        confirmed = self._confirm(row, params.get("tenant", ""))
        if not confirmed:
            self._update(saved_id(row), checked_at=utcnow())
            return Landing(
                False,
                _("Not approved yet"),
                _(
                    "Microsoft does not report Mailroom as approved for this organisation yet, "
                    "so nothing changed. If you just approved it, Mailroom notices by itself "
                    "within minutes; `/mail-consent` in Slack shows the status and has Check "
                    "again."
                ),
            )
        self.granted(row.id)  # type: ignore[arg-type]
        return Landing(
            True,
            _("Mailroom approved"),
            _(
                "Mailroom is approved for your organisation. Everyone who was waiting has "
                "been told in Slack to finish signing in. You can close this page."
            ),
        )

    def _confirm(self, row: ConsentTenant, reported: str) -> bool:
        """Whether Microsoft issues Mailroom an app-only token in the row's tenant (or, for a
        row without a known tenant, in the tenant the redirect names: Microsoft's answer,
        not the redirect, decides)."""
        tenant = row.tenant if row.tenant not in microsoft.GENERIC_TENANTS else reported
        if not tenant or tenant in microsoft.GENERIC_TENANTS:
            return False
        try:
            return bool(microsoft.probe_tenant(self.config, tenant))
        except SignInFailure as failure:
            if failure.kind == FailureKind.CONFIG:  # the token endpoint refused our secret
                config_fault(self.ctx, config.MICROSOFT, failure.code, team_id=row.team_id)
            log.warning("consent confirmation for %s failed: %s", tenant, failure.message)
            return False

    # --- Checking -------------------------------------------------------------------------

    def check(self, row_id: int) -> str:
        """Ask Microsoft afresh whether the tenant approved Mailroom; returns the status."""
        row = self.get(row_id)
        if row is None or row.status == GRANTED:
            return row.status if row else UNKNOWN
        verdict: bool | None = None
        last_error = row.last_error
        for mailbox in self.waiting_mailboxes(row):
            try:
                self.ctx.mailboxes.tokens.access_token(mailbox, force_refresh=True)
                verdict = True
                break
            except SignInFailure as failure:
                if failure.kind == FailureKind.CONSENT:
                    verdict, last_error = False, failure.code
        if verdict is None:
            try:
                verdict = microsoft.probe_tenant(self.config, row.tenant)
            except SignInFailure as failure:
                log.warning("consent check for %s failed: %s", row.tenant, failure.message)
                last_error = failure.code or last_error
        if verdict:
            return self.granted(row.id).status  # type: ignore[arg-type]
        status = row.status if verdict is None or row.status == DECLINED else NEEDED
        return self._update(
            saved_id(row),
            status=status,
            last_error=last_error,
            checked_at=utcnow(),
        ).status

    def recheck_waiting(self) -> None:
        """The scheduled job: every tenant not approved yet, each on its own."""
        with self.ctx.db.session() as session:
            ids = [
                r.id
                for r in session.exec(select(ConsentTenant).where(ConsentTenant.status != GRANTED))
            ]
        for row_id in ids:
            try:
                self.check(row_id)  # type: ignore[arg-type]
            except Exception:
                log.exception("consent re-check of tenant row %s failed", row_id)
