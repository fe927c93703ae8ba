"""The sign-in flow: buttons → /start → provider → /callback → mailbox saved and syncing.

The Slack side and the browser side meet through the ``OAuthState`` row: the button carries
its state; the click on it (Slack sends one even for URL buttons) records the kind, channel
and backfill chosen in the modal; the callback uses the row once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.blocks.signin import (
    address_connected_text,
    connected_blocks,
    consent_needed_blocks,
    failure_blocks,
    pick_channel_blocks,
    reconnect_blocks,
    sign_in_button,
)
from bot.connect import (
    BACKFILL,
    ConnectForm,
    FormErrors,
    check_channel,
    check_duplicates,
    join_channel,
    tell_owner_of_reconnect,
)
from bot.roles import who_fixes
from bot.signin import config, states
from bot.signin.consent import Consent
from bot.signin.notices import config_fault, dm, send_once
from bot.signin.tokens import ProviderTokens
from bot.sync import streak_key
from locales import _, current_language, speaking
from providers import google, microsoft
from providers.errors import MailroomError, UserError
from providers.signin_errors import PROVIDER_NAMES, FailureKind, SignInFailure
from storage.models import Mailbox, MailboxKind, OAuthState, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.core import Core
    from bot.lifecycle import MailboxLifecycle

log = logging.getLogger(__name__)


@dataclass
class Identity:
    """Who signed in, and the tokens to keep."""

    email: str
    name: str
    access_token: str
    refresh_token: str
    expires_at: datetime
    tenant_id: str | None = None
    object_id: str | None = None


@dataclass
class Outcome:
    """What the browser page says after the callback (Slack hears it too)."""

    ok: bool
    title: str
    message: str


class SignIn:
    def __init__(
        self, ctx: Core, lifecycle: MailboxLifecycle, sync_now: Callable[[int], None]
    ) -> None:
        self.ctx = ctx
        # A signed-in mailbox with a channel starts syncing through the one lifecycle.
        self.lifecycle = lifecycle
        self.consent = Consent(ctx, sync_now)
        self.tokens = ProviderTokens(ctx, self._refresh_config_fault)

    @property
    def settings(self) -> Any:
        return self.ctx.settings

    def configured(self) -> list[str]:
        return [p for p in config.PROVIDERS if config.is_configured(self.settings, p)]

    # --- Buttons (ctx.sign_in_buttons) --------------------------------------------

    def sign_in_buttons(
        self,
        user_id: str,
        team_id: str,
        kind: str = MailboxKind.PERSONAL,
        mailbox_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """One URL button per configured provider, each with a fresh single-use state.

        Reconnecting a signed-in mailbox offers only its own provider."""
        mailbox = self.ctx.mailboxes.get(mailbox_id) if mailbox_id else None
        providers = self.configured()
        if mailbox is not None and mailbox.provider in config.PROVIDERS:
            providers = [p for p in providers if p == mailbox.provider]
        buttons = []
        for provider in providers:
            row = states.create(
                self.ctx.db,
                provider=provider,
                purpose=states.SIGNIN,
                team_id=team_id or (mailbox.team_id if mailbox else ""),
                user_id=user_id,
                kind=mailbox.kind if mailbox else kind,
                mailbox_id=mailbox_id,
                tenant=mailbox.ms_tenant if mailbox and provider == config.MICROSOFT else None,
                channel_id=mailbox.channel_id if mailbox else None,
                backfill_days=mailbox.backfill_days if mailbox else 0,
            )
            # The page /start shows (a problem with the link) speaks the person's language
            # when the browser does not say (LanguageMiddleware reads ``lang``).
            url = (
                f"{config.public_base(self.settings)}/oauth/{provider}/start?state={row.state}"
                f"&lang={current_language()}"
            )
            buttons.append(sign_in_button(provider, url, row.state))
        return buttons

    def record_choice(self, state: str, user_id: str, values: dict[str, str]) -> str | None:
        """The modal's kind / channel / backfill at the moment the button was pressed.

        The kind is stored as chosen; the callback enforces who may connect which kind. A
        channel the person may not use is not recorded; the sentence saying why is returned."""
        with self.ctx.db.session() as session:
            row = session.get(OAuthState, state)
        if row is None or row.user_id != user_id or row.used_at is not None:
            return None
        fields: dict[str, object] = {}
        refusal = None
        if row.mailbox_id is None and values.get("kind") in set(MailboxKind):
            fields["kind"] = values["kind"]
        if values.get("channel"):
            refusal = check_channel(self.ctx, user_id, values["channel"])
            if refusal is None:
                fields["channel_id"] = values["channel"]
        if values.get("backfill") in BACKFILL and row.mailbox_id is None:
            fields["backfill_days"] = int(values["backfill"])
        if fields:
            states.update_fields(self.ctx.db, state, **fields)
        return refusal

    # --- /oauth/<provider>/start ----------------------------------------------------------

    def start_url(self, provider: str, state: str) -> str:
        if not config.is_configured(self.settings, provider):
            raise UserError(
                _(
                    "{provider} sign-in is not configured on this Mailroom server. Ask a "
                    "Mailroom admin, or connect by hand with IMAP and SMTP."
                ).format(provider=PROVIDER_NAMES[provider])
            )
        # Opened once: a link forwarded to (or replayed by) someone else no longer works.
        row = states.open_once(self.ctx.db, state, provider=provider, purpose=states.SIGNIN)
        mailbox = self.ctx.mailboxes.get(row.mailbox_id) if row.mailbox_id else None
        hint = mailbox.address if mailbox else None
        if provider == config.GOOGLE:
            return google.authorization_url(
                config.google_config(self.settings),
                state=row.state,
                code_verifier=row.code_verifier or "",
                login_hint=hint,
            )
        ms = config.microsoft_config(self.settings)
        url, flow = microsoft.begin_sign_in(
            ms, state=row.state, login_hint=hint, tenant=microsoft.sign_in_tenant(ms, row.tenant)
        )
        states.update_fields(self.ctx.db, row.state, flow_json=flow)
        return url

    # --- /oauth/<provider>/callback -------------------------------------------------------

    def finish(self, provider: str, params: dict[str, str]) -> Outcome:
        row = states.consume(
            self.ctx.db, params.get("state", ""), provider=provider, purpose=states.SIGNIN
        )  # StateProblem → the route's error page
        before = self.ctx.mailboxes.get(row.mailbox_id) if row.mailbox_id else None
        try:
            identity = self._redeem(provider, row, params)
            mailbox = self._save(provider, row, identity)
        except SignInFailure as failure:
            self._failed(provider, row, failure)
            return Outcome(False, _("Not connected"), failure.message)
        except UserError as problem:
            with speaking(self.ctx.languages.for_recipient(row.user_id)):
                text, blocks = failure_blocks(problem.message)
            dm(self.ctx, row.user_id, text, blocks)
            return Outcome(False, _("Not connected"), problem.message)
        if provider == config.MICROSOFT:
            self.consent.signed_in(row.team_id, identity.tenant_id, row.user_id)
        self._tell_address_owner(row, mailbox, provider)
        if before is not None:
            tell_owner_of_reconnect(self.ctx, before, mailbox, row.user_id)
        note = join_channel(self.ctx, mailbox.channel_id) if mailbox.channel_id else None
        mailbox = self.lifecycle.connected(mailbox)
        if mailbox.channel_id:
            with speaking(self.ctx.languages.for_recipient(row.user_id)):
                text, blocks = connected_blocks(mailbox, provider, note)
            dm(self.ctx, row.user_id, text, blocks)
            return Outcome(
                True,
                _("Connected"),
                _(
                    "{address} is connected to Mailroom. Go back to Slack: its "
                    "email will appear in the channel you chose."
                ).format(address=mailbox.address),
            )
        with speaking(self.ctx.languages.for_recipient(row.user_id)):
            text, blocks = pick_channel_blocks(mailbox, provider)
        dm(self.ctx, row.user_id, text, blocks)
        return Outcome(
            True,
            _("Connected"),
            _(
                "{address} is signed in. Go back to Slack and choose the channel "
                "where its email should appear: Mailroom has sent you a message there."
            ).format(address=mailbox.address),
        )

    def _tell_address_owner(self, row: OAuthState, mailbox: Mailbox, provider: str) -> None:
        """Whoever in Slack owns the signed-in address hears that it was connected, and by
        whom, unless they did it themselves (the starter is told separately)."""
        from slack_sdk.errors import SlackApiError

        try:
            owner = self.ctx.slack.client.users_lookupByEmail(email=mailbox.address)["user"]["id"]
        except SlackApiError:
            return  # nobody in this workspace has that address (a shared mailbox, usually)
        if owner == row.user_id:
            return
        with speaking(self.ctx.languages.for_recipient(owner)):
            text = address_connected_text(mailbox, provider, row.user_id)
        dm(self.ctx, owner, text)

    def _redeem(self, provider: str, row: OAuthState, params: dict[str, str]) -> Identity:
        if provider == config.GOOGLE:
            if params.get("error"):
                raise google.redirect_failure(params["error"])
            if not params.get("code"):
                raise SignInFailure(provider, FailureKind.CODE, code="no code")
            cfg = config.google_config(self.settings)
            tokens = google.exchange_code(
                cfg, code=params["code"], state=row.state, code_verifier=row.code_verifier or ""
            )
            who = google.profile(cfg, tokens.access_token)
            return Identity(
                who.email,
                who.name,
                tokens.access_token,
                tokens.refresh_token or "",
                tokens.expires_at,
            )
        if not row.flow_json and not params.get("error"):
            raise SignInFailure(provider, FailureKind.CODE, code="sign-in not started here")
        ms = config.microsoft_config(self.settings)
        grant = microsoft.finish_sign_in(
            ms,
            tenant=microsoft.sign_in_tenant(ms, row.tenant),
            flow_json=row.flow_json or "{}",
            params=params,
        )
        if not grant.refresh_token:
            raise SignInFailure(
                provider,
                FailureKind.TEMPORARY,
                detail=_("Microsoft gave no refresh token, so the access would end in an hour"),
            )
        return Identity(
            grant.email,
            grant.name,
            grant.access_token,
            grant.refresh_token,
            grant.expires_at,
            grant.tenant_id,
            grant.object_id,
        )

    def _target(self, row: OAuthState, who: Identity) -> Mailbox | None:
        """The mailbox this sign-in reconnects, or None for a new one; refuses what the
        person may not do (shared/marketing for non-admins, a second personal mailbox, a
        personal mailbox that is not theirs, another Microsoft account...)."""
        email = who.email
        if row.kind not in (MailboxKind.PERSONAL, MailboxKind.SHARED, MailboxKind.MARKETING):
            raise UserError(
                _(
                    "This sign-in asked for an unknown kind of mailbox. Start again from "
                    "`/mail-connect`."
                )
            )
        if row.kind != MailboxKind.PERSONAL and not self.ctx.roles.is_admin(row.user_id):
            raise UserError(
                _(
                    "Only Mailroom admins can connect shared and marketing mailboxes. "
                    "Ask an admin to do it, or connect your personal mailbox instead."
                )
            )
        if row.mailbox_id:
            mailbox = self.ctx.mailboxes.get(row.mailbox_id)
            if mailbox is None:
                raise UserError(
                    _(
                        "The mailbox you were reconnecting no longer exists. "
                        "Connect it again with `/mail-connect`."
                    )
                )
            self.lifecycle.check_can_reconnect(row.user_id, mailbox)
            if mailbox.address.lower() != email:
                raise UserError(
                    _(
                        "You signed in as {email}, but this reconnects {address}. "
                        "Press Reconnect again and sign in as {address}."
                    ).format(email=email, address=mailbox.address)
                )
            # The address is the one already connected (by its owner, with a password or a
            # sign-in): a forwarded reconnect link fails the check above.
            self._check_same_account(mailbox, who)
            return mailbox
        self._check_personal(row, row.kind, email)
        existing = self.ctx.mailboxes.find_existing(row.team_id, row.kind, row.user_id)
        same = existing if existing is not None and existing.address.lower() == email else None
        form = ConnectForm(
            kind=row.kind,
            address=email,
            sender_name="",
            imap_host="",
            imap_port=0,
            imap_security="",
            imap_username="",
            imap_password="",
            smtp_host="",
            smtp_port=0,
            smtp_security="",
            smtp_username="",
            smtp_password="",
            channel_id=row.channel_id or "",
            backfill_days=row.backfill_days,
            mailbox_id=same.id if same else None,
        )
        try:
            check_duplicates(self.ctx, form, row.user_id, row.team_id)
        except FormErrors as exc:
            raise UserError(next(iter(exc.errors.values()))) from None
        if same is not None:
            self._check_same_account(same, who)
        return same

    def _check_personal(self, row: OAuthState, kind: str, email: str) -> None:
        """A personal mailbox is the Slack user's own: the signed-in address must be the
        (Slack-verified) email of their Slack profile. A link forwarded to a colleague thus
        cannot connect the colleague's mailbox as the sender's."""
        if kind != MailboxKind.PERSONAL:
            return
        profile = self._profile_email(row.user_id)
        if profile is None:
            raise UserError(
                _(
                    "Mailroom could not read the email of your Slack profile, so it cannot tell "
                    "this mailbox is yours. Nothing was saved: try again in a minute."
                )
            )
        if profile != email:
            raise UserError(
                _(
                    "You signed in as {email}, but your Slack profile's email is {profile}. A "
                    "personal mailbox must be your own, so nothing was saved: sign in as "
                    "{profile}, or connect the mailbox by hand with its password from "
                    "`/mail-connect`."
                ).format(email=email, profile=profile)
            )

    def _profile_email(self, user_id: str) -> str | None:
        """The email Slack verified for ``user_id``, read afresh (not a cached profile)."""
        from slack_sdk.errors import SlackApiError

        try:
            info = self.ctx.slack.client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            log.warning("users.info %s failed: %s", user_id, exc.response.get("error"))
            return None
        if info.get("deleted") or info.get("is_bot") or info.get("is_email_confirmed") is False:
            return None
        email = str((info.get("profile") or {}).get("email") or "").strip().lower()
        return email or None

    @staticmethod
    def _check_same_account(mailbox: Mailbox, who: Identity) -> None:
        """A Microsoft mailbox stays with the account it was connected with (``tid`` +
        ``oid``): another account presenting the same address is refused."""
        if mailbox.provider != config.MICROSOFT or not mailbox.ms_object_id:
            return
        if (mailbox.ms_tenant, mailbox.ms_object_id) != (who.tenant_id, who.object_id):
            raise UserError(
                _(
                    "This Microsoft account is not the one {address} was connected with, "
                    "so nothing was changed. Sign in with the original account, or ask a "
                    "Mailroom admin to remove the mailbox and connect it again."
                ).format(address=mailbox.address)
            )

    def _save(self, provider: str, row: OAuthState, who: Identity) -> Mailbox:
        target = self._target(row, who)
        secrets = self.ctx.mailboxes.seal(
            {"access_token": who.access_token, "refresh_token": who.refresh_token}
        )
        with self.ctx.db.session() as session:
            mailbox = session.get(Mailbox, target.id) if target is not None else None
            if mailbox is None:
                mailbox = Mailbox(
                    team_id=row.team_id,
                    kind=row.kind,
                    owner_id=row.user_id,
                    address=who.email,
                    backfill_days=row.backfill_days,
                    sender_name=who.name if row.kind == MailboxKind.PERSONAL else "",
                )
                mailbox.active = bool(row.channel_id)
            mailbox.channel_id = row.channel_id or mailbox.channel_id
            if not mailbox.channel_id:
                mailbox.active = False  # nothing to post into yet: syncs once a channel is chosen
            mailbox.provider = provider
            for name, value in config.endpoints(self.settings, provider).items():
                setattr(mailbox, name, value)
            mailbox.imap_username = mailbox.smtp_username = who.email
            mailbox.secrets = secrets
            mailbox.token_expires_at = who.expires_at
            mailbox.ms_tenant = who.tenant_id if provider == config.MICROSOFT else None
            mailbox.ms_object_id = who.object_id if provider == config.MICROSOFT else None
            mailbox.updated_at = utcnow()
            session.add(mailbox)
        return mailbox

    def _failed(self, provider: str, row: OAuthState, failure: SignInFailure) -> None:
        """Tell the person in Slack what the page says, and the admins when it is ours."""
        if failure.kind == FailureKind.CONFIG:
            config_fault(self.ctx, provider, failure.code, team_id=row.team_id)
        if failure.kind == FailureKind.CONSENT:
            tenant = self.consent.tenant_for(row.tenant)
            self.consent.record_waiting(row.team_id, tenant, user_id=row.user_id, code=failure.code)
            link = self.consent.link(row.team_id, tenant, row.user_id)
            with speaking(self.ctx.languages.for_recipient(row.user_id)):
                text, blocks = consent_needed_blocks(failure.message, link)
        else:
            with speaking(self.ctx.languages.for_recipient(row.user_id)):
                text, blocks = failure_blocks(failure.message)
        dm(self.ctx, row.user_id, text, blocks)

    # --- Failures of running mailboxes (ctx.sync.failure_notifiers) ------------------------

    def _refresh_config_fault(self, mailbox: Mailbox, failure: SignInFailure) -> None:
        # At once, not after the sync failure threshold: every mailbox of the provider is down.
        config_fault(
            self.ctx,
            mailbox.provider,
            failure.code,
            team_id=mailbox.team_id,
            address=mailbox.address,
        )

    def on_sync_failure(self, mailbox: Mailbox, error: MailroomError) -> bool:
        """Our own notice for sign-in failures; True means the generic one is not sent."""
        if not isinstance(error, SignInFailure):
            return False
        streak = streak_key(mailbox)
        if error.kind == FailureKind.CONFIG:
            config_fault(
                self.ctx,
                mailbox.provider,
                error.code,
                team_id=mailbox.team_id,
                address=mailbox.address,
            )
            return True  # the owner can do nothing about our secret
        if error.kind == FailureKind.RECONNECT:
            for recipient in who_fixes(self.ctx.settings, mailbox):
                with speaking(self.ctx.languages.for_recipient(recipient)):
                    text, blocks = reconnect_blocks(mailbox, error.message)
                send_once(
                    self.ctx, f"signin-reconnect:{streak}:{recipient}", recipient, text, blocks
                )
            return True
        if error.kind == FailureKind.CONSENT:
            tenant = self.consent.tenant_for(mailbox.ms_tenant)
            recipients = who_fixes(self.ctx.settings, mailbox)
            self.consent.record_waiting(mailbox.team_id, tenant, user_id=None, code=error.code)
            for recipient in recipients:
                key = f"signin-consent:{streak}:{recipient}"
                if self.ctx.notifier.was_sent(key):
                    continue  # no new approval link for a notice already sent
                link = self.consent.link(mailbox.team_id, tenant, mailbox.owner_id)
                with speaking(self.ctx.languages.for_recipient(recipient)):
                    text, blocks = consent_needed_blocks(error.message, link)
                send_once(self.ctx, key, recipient, text, blocks)
            return True
        return False
